// The x86 state KVM needs per vCPU: CPUID (the host's supported set, with this vCPU's APIC id,
// the hypervisor bit and the -smp topology), the local APIC in virtual-wire mode (LINT0 ExtINT,
// LINT1 NMI), the basic MSRs, a clean FPU, and the boot loader's entry state (X86CpuEntry) for
// the first vCPU.
#pragma once

#include <linux/kvm.h>

#include <vector>

#include "hw/i386/x86-cpu-entry.h"
#include "util/error.h"

namespace nahanni {

// CPUID for the vCPU with `apic_id` out of `cpu_count`: the host's supported set with the
// hypervisor bit, and the topology of one socket with `cpu_count` cores of one thread (QEMU's
// default for -smp N) in leaves 1, 4, 0xb, 0x1f (zero: one die) and AMD's 0x80000008/0x8000001e.
std::vector<kvm_cpuid_entry2> kvm_vcpu_cpuid(const std::vector<kvm_cpuid_entry2>& supported, unsigned apic_id,
                                             unsigned cpu_count);
Status kvm_set_cpuid(int vcpu_fd, const std::vector<kvm_cpuid_entry2>& entries);
// Power-on state: MSRs (APIC base with the BSP flag on vCPU 0), LAPIC LINTs, FPU, and the MP
// state (vCPU 0 runnable, the others waiting for INIT/SIPI from the in-kernel LAPIC).
Status kvm_reset_vcpu(int vcpu_fd, unsigned index);
// Copies the boot loader's state into the registers and special registers.
Status kvm_load_entry(int vcpu_fd, const X86CpuEntry& entry);
// One line of the registers that matter when a guest dies (rip, rsp, cr0, cr3, cr4, efer, cs).
std::string kvm_register_summary(int vcpu_fd);

}  // namespace nahanni
