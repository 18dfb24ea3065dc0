#include "monitor/qmp-options.h"

namespace nahanni {

OptionValue option_value_from_json(const nlohmann::json& j) {
  using K = OptionValue::Kind;
  OptionValue v;
  switch (j.type()) {
    case nlohmann::json::value_t::string: v.kind = K::JsonString; v.text = j.get<std::string>(); break;
    case nlohmann::json::value_t::boolean: v.kind = K::JsonBool; v.boolean = j.get<bool>(); break;
    case nlohmann::json::value_t::number_integer: v.kind = K::JsonInt; v.integer = j.get<int64_t>(); break;
    case nlohmann::json::value_t::number_unsigned: v.kind = K::JsonUInt; v.uinteger = j.get<uint64_t>(); break;
    case nlohmann::json::value_t::number_float: v.kind = K::JsonDouble; v.number = j.get<double>(); break;
    case nlohmann::json::value_t::null: v.kind = K::JsonNull; break;
    default: v.kind = K::JsonCompound; v.text = j.dump(); break;
  }
  return v;
}

OptionList option_list_from_qmp(const nlohmann::json& args) {
  OptionList list;
  list.from_json = true;
  if (!args.is_object()) return list;
  for (auto it = args.begin(); it != args.end(); ++it) list.items.emplace_back(it.key(), option_value_from_json(*it));
  return list;
}

}  // namespace nahanni
