// The CPUID a vCPU sees under KVM with -smp N: the host's supported set, the hypervisor bit,
// and one socket of N cores with one thread each (QEMU's default topology for -smp N on
// pc-i440fx-7.2). First the table alone, from made-up supported sets with the host's own
// counts in them (no /dev/kvm needed); then a hand-made guest under -smp 2 executes CPUID on
// both vCPUs and reports what it saw.
#include <cpuid.h>

#include <algorithm>
#include <optional>

#include "accel/kvm/kvm-cpu-state.h"
#include "guest-entry.h"
#include "kvm-fixture.h"

namespace nahanni::test {
namespace {

kvm_cpuid_entry2 entry(uint32_t function, uint32_t index, uint32_t eax, uint32_t ebx, uint32_t ecx, uint32_t edx,
                       uint32_t flags = 0) {
  kvm_cpuid_entry2 e{};
  e.function = function;
  e.index = index;
  e.flags = flags;
  e.eax = eax;
  e.ebx = ebx;
  e.ecx = ecx;
  e.edx = edx;
  return e;
}

std::optional<kvm_cpuid_entry2> find(const std::vector<kvm_cpuid_entry2>& list, uint32_t function, uint32_t index) {
  for (const kvm_cpuid_entry2& e : list)
    if (e.function == function && e.index == index) return e;
  return std::nullopt;
}

constexpr uint32_t kSignificant = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;

// What KVM_GET_SUPPORTED_CPUID gave on this workplace's 2-core Intel host (kvm_pvm): the host's
// APIC id 1 and 2 logical processors in leaf 1, 2 cores in leaf 4, leaf 0xb and 0x1f empty.
std::vector<kvm_cpuid_entry2> intel_host() {
  return {
      entry(0, 0, 0x24, 0x756e6547, 0x6c65746e, 0x49656e69),
      entry(1, 0, 0x000a0671, 0x01020800, 0x81202000, 0x0f8bfbff),
      entry(4, 0, 0x04000121, 0x02c0003f, 0x3f, 0, kSignificant),
      entry(4, 1, 0x04000122, 0x03c0003f, 0x3f, 0, kSignificant),
      entry(4, 2, 0x04000143, 0x03c0003f, 0x7ff, 0, kSignificant),
      entry(4, 3, 0x04004163, 0x03c0003f, 0x77fff, 0, kSignificant),
      entry(4, 4, 0, 0, 0, 0, kSignificant),
      entry(0xb, 0, 0, 0, 0, 1, kSignificant),
      entry(0x1f, 0, 0, 0, 0, 1, kSignificant),
      entry(0x80000008, 0, 0x3930, 0, 0, 0),
  };
}

TEST(KvmCpuid, one_cpu_is_one_core_without_htt) {
  auto cpuid = kvm_vcpu_cpuid(intel_host(), 0, 1);
  auto leaf1 = find(cpuid, 1, 0);
  ASSERT_TRUE(leaf1);
  EXPECT_EQ(leaf1->ebx, 0x00000800u);  // APIC id 0, no logical count, CLFLUSH size kept
  EXPECT_EQ(leaf1->ecx, 0x81202000u | (1u << 31));
  EXPECT_EQ(leaf1->edx & (1u << 28), 0u);
  EXPECT_EQ(find(cpuid, 4, 0)->eax, 0x00000121u);  // one core, not shared
  EXPECT_EQ(find(cpuid, 4, 3)->eax, 0x00000163u);
  auto smt = find(cpuid, 0xb, 0), core = find(cpuid, 0xb, 1), end = find(cpuid, 0xb, 2);
  ASSERT_TRUE(smt && core && end);
  EXPECT_EQ(std::tie(smt->eax, smt->ebx, smt->ecx, smt->edx), std::make_tuple(0u, 1u, 0x100u, 0u));
  EXPECT_EQ(std::tie(core->eax, core->ebx, core->ecx, core->edx), std::make_tuple(0u, 1u, 0x201u, 0u));
  EXPECT_EQ(std::tie(end->eax, end->ebx, end->ecx, end->edx), std::make_tuple(0u, 0u, 2u, 0u));
}

TEST(KvmCpuid, smp_3_is_one_socket_of_three_cores) {
  for (unsigned apic = 0; apic < 3; ++apic) {
    auto cpuid = kvm_vcpu_cpuid(intel_host(), apic, 3);
    auto leaf1 = find(cpuid, 1, 0);
    EXPECT_EQ(leaf1->ebx, (apic << 24) | 0x00030800u) << apic;
    EXPECT_EQ(leaf1->edx, 0x0f8bfbffu | (1u << 28)) << apic;
    // L1d, L1i, L2: 3 cores, each cache its own; L3: shared by the package's 4 addressable
    // ids (QEMU 7.2 with -cpu host -smp 3 gives this same 0x0800c163).
    EXPECT_EQ(find(cpuid, 4, 0)->eax, 0x08000121u);
    EXPECT_EQ(find(cpuid, 4, 1)->eax, 0x08000122u);
    EXPECT_EQ(find(cpuid, 4, 2)->eax, 0x08000143u);
    EXPECT_EQ(find(cpuid, 4, 3)->eax, 0x0800c163u);
    EXPECT_EQ(find(cpuid, 4, 3)->ecx, 0x77fffu);  // the rest is the host's
    EXPECT_EQ(find(cpuid, 4, 4)->eax, 0u);        // the end of the list stays
    auto smt = find(cpuid, 0xb, 0), core = find(cpuid, 0xb, 1), end = find(cpuid, 0xb, 2);
    ASSERT_TRUE(smt && core && end);
    EXPECT_EQ(std::tie(smt->eax, smt->ebx, smt->ecx, smt->edx), std::make_tuple(0u, 1u, 0x100u, apic));
    EXPECT_EQ(std::tie(core->eax, core->ebx, core->ecx, core->edx), std::make_tuple(2u, 3u, 0x201u, apic));
    EXPECT_EQ(std::tie(end->eax, end->ebx, end->ecx, end->edx), std::make_tuple(0u, 0u, 2u, apic));
    EXPECT_EQ(smt->flags, kSignificant);
    // One die: leaf 0x1f reads as absent.
    auto die = find(cpuid, 0x1f, 0);
    ASSERT_TRUE(die);
    EXPECT_EQ(std::tie(die->eax, die->ebx, die->ecx, die->edx), std::make_tuple(0u, 0u, 0u, 0u));
    EXPECT_EQ(find(cpuid, 0x80000008, 0)->ecx, 0u);  // reserved on Intel
    EXPECT_EQ(std::count_if(cpuid.begin(), cpuid.end(), [](auto& e) { return e.function == 0xb; }), 3);
  }
}

TEST(KvmCpuid, amd_core_count_follows_smp) {
  std::vector<kvm_cpuid_entry2> amd = {
      entry(0, 0, 0x10, 0x68747541, 0x444d4163, 0x69746e65),  // "AuthenticAMD"
      entry(1, 0, 0x00a20f10, 0x0a100800, 0x7ed8320b, 0x178bfbff),
      entry(0x80000008, 0, 0x3030, 0, 0x0000700f, 0),  // host: 16 cores, 7 id bits
      entry(0x8000001e, 0, 9, 0x00000104, 0x00000000, 0),
  };
  auto cpuid = kvm_vcpu_cpuid(amd, 2, 4);
  EXPECT_EQ(find(cpuid, 1, 0)->ebx, 0x02040800u);
  EXPECT_EQ(find(cpuid, 0x80000008, 0)->ecx, 0x00002003u);  // 4 cores, 2 id bits
  auto ext = find(cpuid, 0x8000001e, 0);
  EXPECT_EQ(std::tie(ext->eax, ext->ebx, ext->ecx), std::make_tuple(2u, 0x2u, 0u));
}

// --- under KVM ---------------------------------------------------------------------------

constexpr uint64_t kLeafTable = 0x1200;
constexpr uint64_t kResults[] = {0x9000, 0x9100};  // BSP, AP
struct Leaf {
  uint32_t function, index;
};
constexpr Leaf kLeaves[] = {{0, 0}, {1, 0}, {4, 0}, {4, 1}, {4, 2}, {4, 3}, {0xb, 0}, {0xb, 1}, {0xb, 2}, {0x1f, 0}};

struct Regs {
  uint32_t eax, ebx, ecx, edx;
};

TEST_F(KvmTest, smp_2_guest_sees_its_apic_id_the_hypervisor_bit_and_one_socket_of_two_cores) {
  create(2);
  write_gdt(ram());
  // Both vCPUs run `record` (0x1100): CPUID for each (leaf, subleaf) of the table at 0x1200
  // into [edi], 16 bytes each (EAX, EBX, ECX, EDX).
  poke(0x1100, {
                   0xbe, 0x00, 0x12, 0x00, 0x00,  // mov esi, 0x1200
                   0xad,                          // next: lodsd
                   0x83, 0xf8, 0xff,              // cmp eax, -1
                   0x74, 0x13,                    // je done
                   0x8b, 0x0e,                    // mov ecx, [esi]
                   0x83, 0xc6, 0x04,              // add esi, 4
                   0x0f, 0xa2,                    // cpuid
                   0xab,                          // stosd (eax)
                   0x89, 0xd8, 0xab,              // mov eax, ebx; stosd
                   0x89, 0xc8, 0xab,              // mov eax, ecx; stosd
                   0x89, 0xd0, 0xab,              // mov eax, edx; stosd
                   0xeb, 0xe7,                    // jmp next
                   0xc3,                          // done: ret
               });
  std::vector<uint32_t> table;
  for (const Leaf& l : kLeaves) table.insert(table.end(), {l.function, l.index});
  table.push_back(0xffffffff);
  std::memcpy(ram() + kLeafTable, table.data(), table.size() * 4);
  // BSP (32-bit): record into 0x9000, then INIT and SIPI 0x08 to APIC 1, report 1 on port 0x500.
  poke(0x1000, {
                   0xbf, 0x00, 0x90, 0x00, 0x00,                                // mov edi, 0x9000
                   0xe8, 0xf6, 0x00, 0x00, 0x00,                                // call 0x1100
                   0xc7, 0x05, 0x10, 0x03, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x01,  // [ICR hi] = 1 << 24
                   0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x00, 0x45, 0x00, 0x00,  // [ICR lo] = INIT, assert
                   0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x08, 0x46, 0x00, 0x00,  // [ICR lo] = SIPI 0x08
                   0x66, 0xba, 0x00, 0x05, 0xb0, 0x01, 0xee,                    // out 0x500 <- 1
                   0xf4, 0xeb, 0xfd,                                            // hlt; jmp hlt
               });
  // AP: real mode at 0x8000 into flat 32-bit protected mode with the same GDT, then the same.
  poke(0x8000, {
                   0xfa,                          // cli
                   0x0f, 0x01, 0x16, 0x40, 0x80,  // lgdt [0x8040]
                   0x0f, 0x20, 0xc0,              // mov eax, cr0
                   0x0c, 0x01,                    // or al, 1
                   0x0f, 0x22, 0xc0,              // mov cr0, eax
                   0xea, 0x00, 0x81, 0x08, 0x00,  // jmp 0x08:0x8100
               });
  poke(0x8040, {31, 0, 0x00, 0x20, 0x00, 0x00});  // GDT pointer: limit 31, base 0x2000
  poke(0x8100, {
                   0x66, 0xb8, 0x10, 0x00,                    // mov ax, 0x10
                   0x8e, 0xd8, 0x8e, 0xc0, 0x8e, 0xd0,        // mov ds/es/ss, ax
                   0xbc, 0x00, 0x60, 0x00, 0x00,              // mov esp, 0x6000
                   0xbf, 0x00, 0x91, 0x00, 0x00,              // mov edi, 0x9100
                   0xe8, 0xe7, 0x8f, 0xff, 0xff,              // call 0x1100
                   0x66, 0xba, 0x00, 0x05, 0xb0, 0x02, 0xee,  // out 0x500 <- 2
                   0xf4, 0xeb, 0xfd,                          // hlt; jmp hlt
               });
  run(protected_mode_entry(ram(), 0x1000));
  auto first = log.wait_for(kTestPort), second = log.wait_for(kTestPort);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->value + second->value, 3u);  // both vCPUs, in either order

  const auto& supported = accel_->system().supported_cpuid();
  auto seen = [&](unsigned cpu, uint32_t function, uint32_t index) {
    size_t i = 0;
    while (kLeaves[i].function != function || kLeaves[i].index != index) ++i;
    Regs r;
    std::memcpy(&r, ram() + kResults[cpu] + 16 * i, sizeof r);
    return r;
  };
  unsigned host_eax, host_ebx, host_ecx, host_edx;
  __cpuid(0, host_eax, host_ebx, host_ecx, host_edx);
  auto supported0 = find(supported, 0, 0);
  ASSERT_TRUE(supported0);
  for (unsigned cpu = 0; cpu < 2; ++cpu) {
    SCOPED_TRACE("vCPU " + std::to_string(cpu));
    // Leaf 0: the vendor KVM supports, which is the host's.
    Regs vendor = seen(cpu, 0, 0);
    EXPECT_EQ(std::tie(vendor.ebx, vendor.edx, vendor.ecx),
              std::tie(supported0->ebx, supported0->edx, supported0->ecx));
    EXPECT_EQ(std::tie(vendor.ebx, vendor.edx, vendor.ecx), std::tie(host_ebx, host_edx, host_ecx));
    // Leaf 1: APIC id = vCPU index, two logical processors with HTT, the hypervisor bit.
    Regs leaf1 = seen(cpu, 1, 0);
    EXPECT_EQ(leaf1.ebx >> 24, cpu);
    EXPECT_EQ((leaf1.ebx >> 16) & 0xff, 2u);
    EXPECT_NE(leaf1.edx & (1u << 28), 0u);
    EXPECT_NE(leaf1.ecx & (1u << 31), 0u);
    auto expected = kvm_vcpu_cpuid(supported, cpu, 2);
    // Leaf 4: two cores in the package; each cache per core below L3, L3 shared by both.
    for (uint32_t sub = 0; sub < 4; ++sub) {
      auto want = find(expected, 4, sub);
      if (!want) continue;
      Regs got = seen(cpu, 4, sub);
      EXPECT_EQ(std::tie(got.eax, got.ebx, got.ecx, got.edx), std::tie(want->eax, want->ebx, want->ecx, want->edx))
          << "leaf 4." << sub;
      if (got.eax & 0x1f) {
        EXPECT_EQ(got.eax >> 26, 1u) << "leaf 4." << sub;
        EXPECT_EQ((got.eax >> 14) & 0xfff, ((got.eax >> 5) & 7) >= 3 ? 1u : 0u) << "leaf 4." << sub;
      }
    }
    // Leaf 0xb: SMT level of one thread, core level of two, then the end; x2APIC id in EDX.
    if (find(supported, 0xb, 0)) {
      Regs smt = seen(cpu, 0xb, 0), core = seen(cpu, 0xb, 1), end = seen(cpu, 0xb, 2);
      EXPECT_EQ(std::tie(smt.eax, smt.ebx, smt.ecx, smt.edx), std::make_tuple(0u, 1u, 0x100u, cpu));
      EXPECT_EQ(std::tie(core.eax, core.ebx, core.ecx, core.edx), std::make_tuple(1u, 2u, 0x201u, cpu));
      EXPECT_EQ(std::tie(end.eax, end.ebx, end.ecx, end.edx), std::make_tuple(0u, 0u, 2u, cpu));
    }
    if (find(supported, 0x1f, 0)) {
      Regs die = seen(cpu, 0x1f, 0);
      EXPECT_EQ(std::tie(die.eax, die.ebx, die.ecx, die.edx), std::make_tuple(0u, 0u, 0u, 0u));
    }
  }
}

}  // namespace
}  // namespace nahanni::test
