// The test guest's 64-bit entry: reads hvm_start_info, parses the command line, sets up
// interrupts and (when a step needs it) the ivshmem device, runs the steps and exits through
// isa-debug-exit. See docs/devel/test-guest.rst.
#include <cstdint>

#include "command-line.h"
#include "console.h"
#include "exit-status.h"
#include "interrupts.h"
#include "ivshmem-device.h"
#include "scenarios.h"
#include "hw/misc/ivshmem-regs.h"

namespace nahanni::guest {
namespace {

// The PVH boot ABI's start-of-day structure (xen/include/public/arch-x86/hvm/start_info.h).
struct HvmStartInfo {
  uint32_t magic;
  uint32_t version;
  uint32_t flags;
  uint32_t nr_modules;
  uint64_t modlist_paddr;
  uint64_t cmdline_paddr;
  uint64_t rsdp_paddr;
  uint64_t memmap_paddr;
  uint32_t memmap_entries;
  uint32_t reserved;
};
constexpr uint32_t kHvmStartMagic = 0x336ec578;
constexpr unsigned kDefaultWatchdogSeconds = 60;

CommandLine command_line;
IvshmemDevice devices[kMaxIvshmemDevices];

bool is_step(const char* word) { return find_scenario(word) != nullptr; }

uint64_t global_number(const char* key, uint64_t fallback) {
  const char* text = command_line.global.find(key);
  if (!text) return fallback;
  uint64_t v;
  if (!parse_u64(text, &v)) {
    print("guest: %s=%s is not a number\n", key, text);
    guest_exit(ExitStatus::kBadCommandLine, "malformed global option");
  }
  return v;
}

IvshmemDevice* set_up_device(GuestContext& ctx) {
  int count = find_ivshmem_devices(devices, kMaxIvshmemDevices);
  uint64_t index = global_number("device", 0);
  print("guest: found %d ivshmem device(s)\n", count);
  if (index >= static_cast<uint64_t>(count)) guest_exit(ExitStatus::kNoDevice, "no ivshmem device");
  PciWindows windows;
  windows.next64 = global_number("mmio64", windows.next64);
  IvshmemDevice& dev = devices[index];
  setup_ivshmem_device(dev, windows, command_line.global.has("reassign"));
  print("guest: device 00:%X.%d id %X revision %d bar0 %x bar2 %x size %x msix-vectors %d\n",
        dev.pci.device, dev.pci.function, dev.device_id, dev.revision, dev.registers, dev.shm,
        dev.shm_size, dev.vectors);
  ctx.own_id = static_cast<int>(ivshmem_read(dev, nahanni::ivshmem::kIvPosition) & 0xffff);
  ctx.sync_offset = global_number("sync-offset", dev.shm_size >= 4096 ? dev.shm_size - 4096 : 0);
  return &dev;
}

}  // namespace
}  // namespace nahanni::guest

extern "C" [[noreturn]] void guest_main(uint32_t start_info_paddr) {
  using namespace nahanni::guest;
  console_init();
  print("guest: nahanni test guest, start_info %x\n", start_info_paddr);
  auto* info = reinterpret_cast<const HvmStartInfo*>(static_cast<uintptr_t>(start_info_paddr));
  if (!info || info->magic != kHvmStartMagic) guest_exit(ExitStatus::kBadStartInfo, "bad hvm_start_info magic");
  const char* text = reinterpret_cast<const char*>(info->cmdline_paddr);
  print("guest: cmdline: %s\n", text ? text : "");
  const char* error = nullptr;
  if (!parse_command_line(text, is_step, &command_line, &error)) guest_exit(ExitStatus::kBadCommandLine, error);
  // Bare words before the first step are either known flags or a misspelt step.
  for (int i = 0; i < command_line.global.word_count; ++i) {
    const Word& w = command_line.global.words[i];
    if (!w.value && !str_equal(w.key, "reassign")) {
      print("guest: unknown step '%s'\n", w.key);
      guest_exit(ExitStatus::kBadCommandLine, "unknown step");
    }
    if (w.value && !str_equal(w.key, "watchdog") && !str_equal(w.key, "device") && !str_equal(w.key, "mmio64") &&
        !str_equal(w.key, "sync-offset")) {
      print("guest: unknown option '%s'\n", w.key);
      guest_exit(ExitStatus::kBadCommandLine, "unknown option");
    }
  }
  // Every word is checked before anything runs: a typo fails the run, never a step half-done.
  for (int i = 0; i < command_line.step_count; ++i) {
    const Step& step = command_line.steps[i];
    const Scenario* scenario = find_scenario(step.name);
    for (int w = 0; w < step.word_count; ++w) {
      if (!scenario->accepts(step.words[w].key)) {
        print("guest: step %s does not take '%s'\n", step.name, step.words[w].key);
        guest_exit(ExitStatus::kBadCommandLine, "unknown argument");
      }
    }
  }
  interrupts_init(static_cast<unsigned>(global_number("watchdog", kDefaultWatchdogSeconds)));

  GuestContext ctx;
  for (int i = 0; i < command_line.step_count; ++i) {
    const Step& step = command_line.steps[i];
    const Scenario* scenario = find_scenario(step.name);
    if (scenario->needs_device && !ctx.device) ctx.device = set_up_device(ctx);
    print("guest: step %d: %s\n", i + 1, step.name);
    watchdog_kick();
    scenario->run(step, ctx);
  }
  if (uint64_t n = unexpected_interrupts()) print("guest: %d unexpected interrupt(s)\n", n);
  guest_exit(ExitStatus::kPass);
}
