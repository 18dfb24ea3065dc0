// Errors a user can cause travel as values: an Error carries a QEMU-style message (and, for
// QMP, an error class); Result<T> holds either a value or an Error.
#pragma once

#include <fmt/format.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace nahanni {

class Error {
 public:
  // QMP error classes (qapi/error.json).
  enum class Class { Generic, CommandNotFound, DeviceNotActive, DeviceNotFound, KVMMissingCap };

  explicit Error(std::string message, Class cls = Class::Generic)
      : message_(std::move(message)), class_(cls) {}

  template <typename... Args>
  static Error format(fmt::format_string<Args...> f, Args&&... args) {
    return Error(fmt::format(f, std::forward<Args>(args)...));
  }

  const std::string& message() const { return message_; }
  Class error_class() const { return class_; }
  // An extra line printed after the message on the command line (QEMU's error_append_hint).
  const std::string& hint() const { return hint_; }

  // "prefix: message", as QEMU's error_prepend.
  Error&& prepend(std::string_view prefix) && {
    message_.insert(0, prefix);
    return std::move(*this);
  }
  Error&& with_class(Class cls) && {
    class_ = cls;
    return std::move(*this);
  }
  Error&& with_hint(std::string hint) && {
    hint_ = std::move(hint);
    return std::move(*this);
  }

 private:
  std::string message_;
  Class class_;
  std::string hint_;
};

// Name of a QMP error class as it appears on the wire.
std::string_view error_class_name(Error::Class cls);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { return std::get<1>(state_); }
  Error&& error() && { return std::get<1>(std::move(state_)); }

 private:
  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const& { return *error_; }
  Error&& error() && { return std::move(*error_); }

 private:
  std::optional<Error> error_;
};

using Status = Result<void>;

}  // namespace nahanni

#define NN_CONCAT_INNER(a, b) a##b
#define NN_CONCAT(a, b) NN_CONCAT_INNER(a, b)

// Returns the error of a Result-valued expression from the enclosing function.
#define NN_TRY(expr)                                                   \
  do {                                                                 \
    auto nn_try_result_ = (expr);                                      \
    if (!nn_try_result_) return std::move(nn_try_result_).error();     \
  } while (0)

// Declares `lhs` from a Result-valued expression, or returns its error.
#define NN_ASSIGN_OR_RETURN(lhs, expr) NN_ASSIGN_OR_RETURN_IMPL(NN_CONCAT(nn_r_, __LINE__), lhs, expr)
#define NN_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr)      \
  auto tmp = (expr);                                  \
  if (!tmp) return std::move(tmp).error();            \
  lhs = std::move(tmp).value()
