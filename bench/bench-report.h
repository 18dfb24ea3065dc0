// What every benchmark prints: medians, interquartile spreads, and one Markdown table row per
// figure (figure | nahanni | peer | ratio | runs | spread), plus raw samples for the plots.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace nahanni::bench {

using Clock = std::chrono::steady_clock;

inline double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}
inline double us_since(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return -1;
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
inline double percentile(std::vector<double> v, double p) {  // nearest rank
  std::sort(v.begin(), v.end());
  if (v.empty()) return -1;
  size_t rank = static_cast<size_t>(p * static_cast<double>(v.size()) + 0.999999);
  return v[std::min(v.size() - 1, rank > 0 ? rank - 1 : 0)];
}
inline double iqr(const std::vector<double>& v) {
  return v.size() < 4 ? 0 : percentile(v, 0.75) - percentile(v, 0.25);
}

// "1,234,567" for counts and rates.
inline std::string thousands(double value) {
  std::string digits = std::to_string(static_cast<long long>(value < 0 ? value - 0.5 : value + 0.5));
  std::string out;
  size_t start = digits[0] == '-' ? 1 : 0;
  if (start) out.push_back('-');
  for (size_t i = start; i < digits.size(); ++i) {
    if (i > start && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

inline void print_table_header() {
  std::printf("| figure | nahanni | peer | ratio | runs | spread (IQR) |\n");
  std::printf("|---|---|---|---|---|---|\n");
  std::fflush(stdout);
}

// A figure measured for nahanni and for its peer (QEMU, or the physical floor): medians, the
// ratio nahanni/peer, run counts and interquartile ranges. `fmt` formats one value with its
// unit (printf style, e.g. "%.1f ms").
inline void print_pair_row(const std::string& figure, const char* fmt, const std::vector<double>& ours,
                           const std::vector<double>& peer) {
  auto value = [&](const std::vector<double>& v) {
    if (v.empty()) return std::string("failed");
    char buf[64];
    std::snprintf(buf, sizeof buf, fmt, median(v));
    return std::string(buf);
  };
  auto spread = [&](const std::vector<double>& v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, fmt, iqr(v));
    return std::string(buf);
  };
  std::string ratio = "—";
  if (!ours.empty() && !peer.empty() && median(peer) > 0) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", median(ours) / median(peer));
    ratio = buf;
  }
  std::printf("| %s | %s | %s | %s | %zu / %zu | %s / %s |\n", figure.c_str(), value(ours).c_str(),
              value(peer).c_str(), ratio.c_str(), ours.size(), peer.size(), spread(ours).c_str(),
              spread(peer).c_str());
  std::fflush(stdout);
}

// A figure with no peer to compare with (the ivshmem-server: Debian ships none).
inline void print_single_row(const std::string& figure, const std::string& value, const std::string& runs,
                             const std::string& spread) {
  std::printf("| %s | %s | — | — | %s | %s |\n", figure.c_str(), value.c_str(), runs.c_str(), spread.c_str());
  std::fflush(stdout);
}

// Raw samples, one a line, for gnuplot; a file that cannot be written is reported, not fatal.
inline void write_samples(const std::string& path, const std::vector<double>& samples) {
  if (path.empty()) return;
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) {
    std::fprintf(stderr, "bench: cannot write %s\n", path.c_str());
    return;
  }
  for (double s : samples) std::fprintf(f, "%.3f\n", s);
  std::fclose(f);
}

}  // namespace nahanni::bench
