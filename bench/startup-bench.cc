// Start-up to the QMP greeting, and from exec to a clean exit after "quit": nahanni against
// Debian's QEMU, the same devices, alternating runs, medians and spreads. A benchmark, never a
// test: it prints figures and asserts nothing.
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Sample {
  double greeting_ms = -1;
  double quit_ms = -1;
};

// Runs `argv` with QMP on stdio; returns the times to the greeting and to exit after quit.
Sample run_once(const std::vector<std::string>& args) {
  int to_child[2], from_child[2];
  if (pipe2(to_child, O_CLOEXEC) < 0 || pipe2(from_child, O_CLOEXEC) < 0) return {};
  auto start = Clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    dup2(to_child[0], 0);
    dup2(from_child[1], 1);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  close(to_child[0]);
  close(from_child[1]);
  Sample s;
  std::string buf;
  char chunk[4096];
  pollfd pfd{from_child[0], POLLIN, 0};
  while (buf.find('\n') == std::string::npos && poll(&pfd, 1, 10000) > 0) {
    ssize_t n = read(from_child[0], chunk, sizeof chunk);
    if (n <= 0) break;
    buf.append(chunk, static_cast<size_t>(n));
  }
  if (buf.find("\"QMP\"") != std::string::npos)
    s.greeting_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  const char* cmds = "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"quit\"}\n";
  ssize_t unused = write(to_child[1], cmds, __builtin_strlen(cmds));
  (void)unused;
  while (read(from_child[0], chunk, sizeof chunk) > 0) {
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    s.quit_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  close(to_child[1]);
  close(from_child[0]);
  return s;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? -1 : v[v.size() / 2];
}
double spread(std::vector<double> v) {  // interquartile range
  std::sort(v.begin(), v.end());
  return v.size() < 4 ? 0 : v[v.size() * 3 / 4] - v[v.size() / 4];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: startup-bench NAHANNI QEMU [RUNS]\n");
    return 2;
  }
  int runs = argc > 3 ? std::atoi(argv[3]) : 20;
  auto args_for = [&](const std::string& bin, bool is_qemu) {
    std::vector<std::string> a = {bin, "-machine", "pc", "-nodefaults", "-display", "none", "-S", "-qmp", "stdio",
                                  "-object", "memory-backend-memfd,id=m1,size=4M,share=on",
                                  "-device", "ivshmem-plain,memdev=m1"};
    a.push_back("-accel");
    a.push_back(is_qemu ? "tcg" : "qtest");
    return a;
  };
  std::vector<double> ng, nq, qg, qq;
  for (int i = 0; i < runs; ++i) {  // alternating, same inputs
    Sample n = run_once(args_for(argv[1], false));
    Sample q = run_once(args_for(argv[2], true));
    if (n.greeting_ms >= 0) ng.push_back(n.greeting_ms);
    if (n.quit_ms >= 0) nq.push_back(n.quit_ms);
    if (q.greeting_ms >= 0) qg.push_back(q.greeting_ms);
    if (q.quit_ms >= 0) qq.push_back(q.quit_ms);
  }
  std::printf("| figure | nahanni | QEMU 7.2 | ratio (nahanni/QEMU) | runs | spread (IQR) nahanni / QEMU |\n");
  std::printf("|---|---|---|---|---|---|\n");
  auto row = [&](const char* name, const std::vector<double>& n, const std::vector<double>& q) {
    double mn = median(n), mq = median(q);
    std::printf("| %s | %.1f ms | %.1f ms | %.3f | %zu / %zu | %.1f / %.1f ms |\n", name, mn, mq, mq > 0 ? mn / mq : 0,
                n.size(), q.size(), spread(n), spread(q));
  };
  row("exec to QMP greeting (pc, -S, 1 ivshmem-plain)", ng, qg);
  row("exec to exit after quit", nq, qq);
  return 0;
}
