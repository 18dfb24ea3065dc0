#include "accel/kvm/kvm-cpu-state.h"

#include "accel/kvm/kvm-abi.h"

#include <sys/ioctl.h>

#include <fmt/format.h>

#include <algorithm>
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
constexpr uint32_t kCpuidHtt = 1u << 28;  // leaf 1 EDX: EBX[23:16] is valid
// Leaf 0xb level types (Intel SDM vol. 2A, CPUID leaf 0BH).
constexpr uint32_t kLevelSmt = 1, kLevelCore = 2;
// Leaf 0 EBX of AMD and Hygon parts ("Auth", "Hygo"): their core count is in 0x80000008.
constexpr uint32_t kVendorAmdEbx = 0x68747541, kVendorHygonEbx = 0x6f677948;

// Bits an id of `n` values takes in the APIC id (0 for 1).
uint32_t id_bits(unsigned n) {
  uint32_t bits = 0;
  while ((1u << bits) < n) ++bits;
  return bits;
}

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
  // The topology QEMU gives -smp N on pc-i440fx-7.2: one socket of N cores, one thread each, so
  // APIC id = vCPU index and the core id takes the low id_bits(N) bits. The host's own counts
  // (leaf 1, leaf 4, leaf 0xb) must not show through.
  const unsigned cores = std::max(cpu_count, 1u);
  const uint32_t core_bits = id_bits(cores);
  bool amd = false, has_0b = false, has_1f = false;
  std::vector<kvm_cpuid_entry2> out;
  for (kvm_cpuid_entry2 e : supported) {
    switch (e.function) {
      case 0:
        amd = e.ebx == kVendorAmdEbx || e.ebx == kVendorHygonEbx;
        break;
      case 1:
        // EBX[31:24] initial APIC id; EBX[23:16] logical processors in the package, valid with
        // HTT, which (as QEMU) is set only when there is more than one.
        e.ebx = (e.ebx & 0x0000ffffu) | (apic_id << 24) | (cores > 1 ? std::min(cores, 255u) << 16 : 0);
        e.edx = cores > 1 ? e.edx | kCpuidHtt : e.edx & ~kCpuidHtt;
        e.ecx |= kCpuidHypervisorBit;
        break;
      case 4:
        // Deterministic cache parameters: EAX[31:26] cores in the package - 1, EAX[25:14]
        // addressable ids sharing the cache - 1 (one thread for L1/L2; the package's id space
        // for L3, a power of two). QEMU 7.2 -cpu host -smp 3 shows the same (0x0800c163).
        if (e.eax & 0x1f) {
          uint32_t level = (e.eax >> 5) & 7;
          uint32_t sharing = level >= 3 ? std::min((1u << core_bits) - 1, 4095u) : 0;
          e.eax = (e.eax & 0x3fffu) | ((std::min(cores, 64u) - 1) << 26) | (sharing << 14);
        }
        break;
      case 6:
        e.ecx &= ~(1u << 3);  // no energy-performance bias MSR behind it
        break;
      case 0xb:
        has_0b = true;
        continue;  // rebuilt below, one entry per level
      case 0x1f:
        has_1f = true;
        continue;
      case 0x80000008:
        // AMD: ECX[7:0] cores - 1, ECX[15:12] APIC id bits for the core. Reserved on Intel.
        if (amd) e.ecx = (e.ecx & ~0xf0ffu) | (core_bits << 12) | ((std::min(cores, 256u) - 1) & 0xff);
        break;
      case 0x8000001e:
        // AMD topology extensions: extended APIC id, core id with one thread per core, node 0.
        e.eax = apic_id;
        e.ebx = (e.ebx & ~0xffffu) | (apic_id & 0xff);
        e.ecx = 0;
        break;
      default:
        break;
    }
    out.push_back(e);
  }
  auto level = [&](uint32_t function, uint32_t index, uint32_t eax, uint32_t ebx, uint32_t type) {
    kvm_cpuid_entry2 e{};
    e.function = function;
    e.index = index;
    e.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
    e.eax = eax;
    e.ebx = ebx;
    e.ecx = (type << 8) | index;
    e.edx = apic_id;  // x2APIC id
    out.push_back(e);
  };
  if (has_0b) {
    level(0xb, 0, 0, 1, kLevelSmt);                  // one thread per core: no SMT bits
    level(0xb, 1, core_bits, cores, kLevelCore);     // the package: `cores` logical processors
    level(0xb, 2, 0, 0, 0);                          // no further level
  }
  if (has_1f) {
    // As QEMU with one die: leaf 0x1f is all zero, so software reads leaf 0xb.
    kvm_cpuid_entry2 e{};
    e.function = 0x1f;
    e.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
    out.push_back(e);
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
