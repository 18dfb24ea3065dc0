#include "accel/kvm/kvm-cpu-state.h"

#include "accel/kvm/kvm-abi.h"

#include <sys/ioctl.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

namespace nahanni {
namespace {

constexpr uint32_t kMsrTsc = 0x10;
constexpr uint32_t kMsrApicBase = 0x1b;
constexpr uint32_t kMsrSysenterCs = 0x174;
constexpr uint32_t kMsrSysenterEsp = 0x175;
constexpr uint32_t kMsrSysenterEip = 0x176;
constexpr uint32_t kMsrMiscEnable = 0x1a0;
constexpr uint32_t kMsrStar = 0xc0000081;
constexpr uint32_t kMsrLstar = 0xc0000082;
constexpr uint32_t kMsrCstar = 0xc0000083;
constexpr uint32_t kMsrSyscallMask = 0xc0000084;
constexpr uint32_t kMsrKernelGsBase = 0xc0000102;

constexpr uint64_t kApicDefaultBase = 0xfee00000;
constexpr uint64_t kApicBaseEnable = 1u << 11;
constexpr uint64_t kApicBaseBsp = 1u << 8;
constexpr uint64_t kMiscEnableFastString = 1;

// Local APIC register offsets and LVT delivery modes (Intel SDM vol. 3, 10.5.1).
constexpr size_t kApicLvtLint0 = 0x350;
constexpr size_t kApicLvtLint1 = 0x360;
constexpr uint32_t kDeliveryExtInt = 7u << 8;
constexpr uint32_t kDeliveryNmi = 4u << 8;
constexpr uint32_t kDeliveryModeMask = 7u << 8;
constexpr uint32_t kLvtMasked = 1u << 16;

constexpr uint32_t kCpuidHypervisorBit = 1u << 31;

Error ioctl_error(const char* what) { return Error::format("kvm: {} failed: {}", what, std::strerror(errno)); }

kvm_segment to_kvm(const X86Segment& s) {
  return kvm_segment{.base = s.base,
                     .limit = s.limit,
                     .selector = s.selector,
                     .type = s.type,
                     .present = s.present,
                     .dpl = s.dpl,
                     .db = s.default_big,
                     .s = s.code_or_data,
                     .l = s.long_mode,
                     .g = s.granularity,
                     .avl = 0,
                     .unusable = s.unusable,
                     .padding = 0};
}

uint32_t& apic_reg(kvm_lapic_state& st, size_t offset) { return *reinterpret_cast<uint32_t*>(&st.regs[offset]); }

}  // namespace

std::vector<kvm_cpuid_entry2> kvm_vcpu_cpuid(const std::vector<kvm_cpuid_entry2>& supported, unsigned apic_id,
                                             unsigned cpu_count) {
  std::vector<kvm_cpuid_entry2> out = supported;
  for (kvm_cpuid_entry2& e : out) {
    switch (e.function) {
      case 1:
        e.ebx = (e.ebx & 0x0000ffffu) | (apic_id << 24) | (std::min(cpu_count, 255u) << 16);
        e.ecx |= kCpuidHypervisorBit;
        break;
      case 0xb:
      case 0x1f:
        e.edx = apic_id;  // x2APIC id
        break;
      case 6:
        e.ecx &= ~(1u << 3);  // no energy-performance bias MSR behind it
        break;
      default:
        break;
    }
  }
  return out;
}

Status kvm_set_cpuid(int vcpu_fd, const std::vector<kvm_cpuid_entry2>& entries) {
  KvmList<kvm_cpuid_entry2> cpuid{std::span<const kvm_cpuid_entry2>(entries)};
  if (::ioctl(vcpu_fd, kKvmSetCpuid2, cpuid.data()) < 0) return ioctl_error("KVM_SET_CPUID2");
  return {};
}

Status kvm_reset_vcpu(int vcpu_fd, unsigned index) {
  const std::pair<uint32_t, uint64_t> msrs[] = {
      {kMsrApicBase, kApicDefaultBase | kApicBaseEnable | (index == 0 ? kApicBaseBsp : 0)},
      {kMsrSysenterCs, 0}, {kMsrSysenterEsp, 0}, {kMsrSysenterEip, 0}, {kMsrStar, 0}, {kMsrCstar, 0},
      {kMsrKernelGsBase, 0}, {kMsrSyscallMask, 0}, {kMsrLstar, 0}, {kMsrTsc, 0},
      {kMsrMiscEnable, kMiscEnableFastString},
  };
  std::vector<kvm_msr_entry> entries;
  for (const auto& [index, value] : msrs) entries.push_back(kvm_msr_entry{.index = index, .reserved = 0, .data = value});
  KvmList<kvm_msr_entry> list{std::span<const kvm_msr_entry>(entries)};
  int set = ::ioctl(vcpu_fd, kKvmSetMsrs, list.data());
  if (set < 0) return ioctl_error("KVM_SET_MSRS");
  if (static_cast<size_t>(set) != entries.size())
    return Error::format("kvm: KVM_SET_MSRS refused MSR 0x{:x}", entries[static_cast<size_t>(set)].index);

  // Virtual-wire mode, as a BIOS leaves the LAPIC: the PIC's output on LINT0, NMI on LINT1.
  kvm_lapic_state lapic{};
  if (::ioctl(vcpu_fd, KVM_GET_LAPIC, &lapic) < 0) return ioctl_error("KVM_GET_LAPIC");
  apic_reg(lapic, kApicLvtLint0) = (apic_reg(lapic, kApicLvtLint0) & ~(kDeliveryModeMask | kLvtMasked)) | kDeliveryExtInt;
  apic_reg(lapic, kApicLvtLint1) = (apic_reg(lapic, kApicLvtLint1) & ~(kDeliveryModeMask | kLvtMasked)) | kDeliveryNmi;
  if (::ioctl(vcpu_fd, KVM_SET_LAPIC, &lapic) < 0) return ioctl_error("KVM_SET_LAPIC");

  kvm_fpu fpu{};
  fpu.fcw = 0x37f;
  fpu.mxcsr = 0x1f80;
  if (::ioctl(vcpu_fd, KVM_SET_FPU, &fpu) < 0) return ioctl_error("KVM_SET_FPU");

  kvm_mp_state mp{.mp_state = static_cast<__u32>(index == 0 ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_UNINITIALIZED)};
  if (::ioctl(vcpu_fd, KVM_SET_MP_STATE, &mp) < 0) return ioctl_error("KVM_SET_MP_STATE");
  return {};
}

Status kvm_load_entry(int vcpu_fd, const X86CpuEntry& e) {
  kvm_sregs sregs{};
  if (::ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0) return ioctl_error("KVM_GET_SREGS");
  sregs.cs = to_kvm(e.cs);
  sregs.ds = to_kvm(e.ds);
  sregs.es = to_kvm(e.es);
  sregs.fs = to_kvm(e.fs);
  sregs.gs = to_kvm(e.gs);
  sregs.ss = to_kvm(e.ss);
  sregs.tr = to_kvm(e.tr);
  sregs.ldt = to_kvm(e.ldt);
  sregs.gdt = kvm_dtable{.base = e.gdt_base, .limit = e.gdt_limit, .padding = {}};
  sregs.idt = kvm_dtable{.base = e.idt_base, .limit = e.idt_limit, .padding = {}};
  sregs.cr0 = e.cr0;
  sregs.cr2 = 0;
  sregs.cr3 = e.cr3;
  sregs.cr4 = e.cr4;
  sregs.efer = e.efer;
  std::memset(sregs.interrupt_bitmap, 0, sizeof sregs.interrupt_bitmap);
  if (::ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0) return ioctl_error("KVM_SET_SREGS");

  kvm_regs regs{};
  regs.rip = e.rip;
  regs.rsp = e.rsp;
  regs.rsi = e.rsi;
  regs.rbx = e.rbx;
  regs.rflags = e.rflags;
  if (::ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0) return ioctl_error("KVM_SET_REGS");
  return {};
}

std::string kvm_register_summary(int vcpu_fd) {
  kvm_regs regs{};
  kvm_sregs sregs{};
  if (::ioctl(vcpu_fd, KVM_GET_REGS, &regs) < 0 || ::ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
    return fmt::format("registers unavailable: {}", std::strerror(errno));
  return fmt::format("rip=0x{:x} rsp=0x{:x} rflags=0x{:x} cs=0x{:x} cr0=0x{:x} cr3=0x{:x} cr4=0x{:x} efer=0x{:x}",
                     regs.rip, regs.rsp, regs.rflags, sregs.cs.selector, sregs.cr0, sregs.cr3, sregs.cr4, sregs.efer);
}

}  // namespace nahanni
