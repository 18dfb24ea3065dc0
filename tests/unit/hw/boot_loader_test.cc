// The boot loaders on synthesized images (and Debian's bzImage when present): what they place
// in guest RAM and the vCPU state they hand over, read back from a RAM buffer laid out as the pc
// machine's.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include "boot-test-images.h"
#include "hw/i386/boot-cpu.h"
#include "hw/i386/bzimage-loader.h"
#include "hw/i386/kernel-loader.h"
#include "hw/i386/mptable.h"
#include "hw/i386/pc.h"
#include "hw/i386/pvh-loader.h"

namespace nahanni::test {
namespace {

constexpr uint64_t kRam = 64ull << 20;

class BootLoaderTest : public ::testing::Test {
 protected:
  RamLayout layout{.below_4g = kRam, .above_4g = 0};
  std::vector<uint8_t> ram = std::vector<uint8_t>(kRam, 0xcc);  // not zero, to see zero-fill

  Result<BootImage> load(std::span<const uint8_t> kernel, std::optional<std::vector<uint8_t>> initrd = std::nullopt,
                         std::string cmdline = "", unsigned cpus = 1) {
    initrd_ = std::move(initrd);
    KernelInputs in{.kernel = kernel, .initrd = std::nullopt, .cmdline = std::move(cmdline), .ram = layout,
                    .cpus = cpus};
    if (initrd_) in.initrd = std::span<const uint8_t>(*initrd_);
    auto image = load_kernel(in);
    if (image) image->write_to(layout, ram.data());
    return image;
  }
  std::string error_of(std::span<const uint8_t> kernel, std::optional<std::vector<uint8_t>> initrd = std::nullopt,
                       std::string cmdline = "") {
    auto r = load(kernel, std::move(initrd), std::move(cmdline));
    return r ? "(loaded)" : r.error().message();
  }
  uint64_t rd(uint64_t addr, unsigned size) const { return get_le(ram, addr, size); }
  std::string str(uint64_t addr) const { return std::string(reinterpret_cast<const char*>(&ram[addr])); }

  std::optional<std::vector<uint8_t>> initrd_;
};

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 13);
  return v;
}

// --- e820 ---

TEST(E820Test, small_guest_has_low_ram_the_bios_hole_and_ram_from_1mib) {
  auto map = pc_memory_map(RamLayout{.below_4g = 128ull << 20});
  ASSERT_EQ(map.size(), 3u);
  EXPECT_EQ(map[0], (E820Entry{0, 0x9fc00, kE820Ram}));
  EXPECT_EQ(map[1], (E820Entry{0x9fc00, 0x100000 - 0x9fc00, kE820Reserved}));
  EXPECT_EQ(map[2], (E820Entry{0x100000, (128ull << 20) - 0x100000, kE820Ram}));
}

TEST(E820Test, large_guest_leaves_the_pci_hole_out_and_resumes_at_4gib) {
  auto map = pc_memory_map(RamLayout{.below_4g = 0xc0000000, .above_4g = 1ull << 30});
  ASSERT_EQ(map.size(), 4u);
  EXPECT_EQ(map[2].addr + map[2].size, 0xc0000000u);
  EXPECT_EQ(map[3], (E820Entry{1ull << 32, 1ull << 30, kE820Ram}));
}

TEST(E820Test, ram_layout_contains_only_ram) {
  RamLayout r{.below_4g = 0xc0000000, .above_4g = 1ull << 30};
  EXPECT_TRUE(r.contains(0, 0x1000));
  EXPECT_TRUE(r.contains(0xbffff000, 0x1000));
  EXPECT_FALSE(r.contains(0xbffff000, 0x2000));
  EXPECT_FALSE(r.contains(0xd0000000, 1));
  EXPECT_TRUE(r.contains(1ull << 32, 1ull << 30));
  EXPECT_FALSE(r.contains((1ull << 32) + (1ull << 30) - 1, 2));
}

// --- PVH ---

TEST_F(BootLoaderTest, pvh_elf64_segments_bss_and_entry_state) {
  auto text = pattern(0x1800, 1), data = pattern(0x200, 99);
  auto elf = make_elf({.is64 = true,
                       .segments = {{0x100000, text, text.size()}, {0x200000, data, 0x3000}},
                       .pvh_entry = 0x100040});
  auto image = load(elf, std::nullopt, "console=ttyS0 quiet");
  ASSERT_TRUE(image.ok()) << image.error().message();
  EXPECT_TRUE(std::equal(text.begin(), text.end(), ram.begin() + 0x100000));
  EXPECT_TRUE(std::equal(data.begin(), data.end(), ram.begin() + 0x200000));
  for (uint64_t a = 0x200200; a < 0x203000; a += 0x100) EXPECT_EQ(ram[a], 0) << "bss at " << a;
  EXPECT_EQ(ram[0x203000], 0xcc);  // nothing past memsz

  const X86CpuEntry& e = image->entry;
  EXPECT_EQ(e.rip, 0x100040u);
  EXPECT_EQ(e.rbx, boot::kStartInfoAddr);
  EXPECT_EQ(e.cr0 & 1, 1u);                // PE
  EXPECT_EQ(e.cr0 & (1ull << 31), 0u);     // paging off
  EXPECT_EQ(e.cr4, 0u);
  EXPECT_EQ(e.efer, 0u);
  EXPECT_EQ(e.rflags & (1u << 9), 0u);     // interrupts off
  EXPECT_EQ(e.cs.selector, boot::kCodeSelector);
  EXPECT_TRUE(e.cs.default_big);
  EXPECT_FALSE(e.cs.long_mode);
  EXPECT_EQ(e.cs.base, 0u);
  EXPECT_EQ(e.cs.limit, 0xffffffffu);
  EXPECT_EQ(e.ds.selector, boot::kDataSelector);
  EXPECT_EQ(e.ss.type, 0x3);
  EXPECT_EQ(e.tr.limit, 0x67u);
  // The GDT the selectors point into: flat 32-bit code and data.
  EXPECT_EQ(e.gdt_base, boot::kGdtAddr);
  EXPECT_EQ(rd(boot::kGdtAddr + 0x10, 8), 0x00cf9b000000ffffull);
  EXPECT_EQ(rd(boot::kGdtAddr + 0x18, 8), 0x00cf93000000ffffull);

  uint64_t si = e.rbx;
  EXPECT_EQ(rd(si + pvh::kMagic, 4), pvh::kStartInfoMagic);
  EXPECT_EQ(rd(si + pvh::kVersion, 4), 1u);
  EXPECT_EQ(rd(si + pvh::kNrModules, 4), 0u);
  EXPECT_EQ(str(rd(si + pvh::kCmdlinePaddr, 8)), "console=ttyS0 quiet");
  EXPECT_EQ(rd(si + pvh::kRsdpPaddr, 8), 0u);
  auto map = pc_memory_map(layout);
  ASSERT_EQ(rd(si + pvh::kMemmapEntries, 4), map.size());
  uint64_t mm = rd(si + pvh::kMemmapPaddr, 8);
  for (size_t i = 0; i < map.size(); ++i) {
    EXPECT_EQ(rd(mm + 24 * i, 8), map[i].addr);
    EXPECT_EQ(rd(mm + 24 * i + 8, 8), map[i].size);
    EXPECT_EQ(rd(mm + 24 * i + 16, 4), map[i].type);
  }
}

TEST_F(BootLoaderTest, pvh_elf32_with_a_4_byte_note) {
  auto text = pattern(0x400, 5);
  auto elf = make_elf({.is64 = false, .segments = {{0x100000, text, 0x1000}}, .pvh_entry = 0x100010,
                       .note_desc_size = 4});
  auto image = load(elf);
  ASSERT_TRUE(image.ok()) << image.error().message();
  EXPECT_EQ(image->entry.rip, 0x100010u);
  EXPECT_TRUE(std::equal(text.begin(), text.end(), ram.begin() + 0x100000));
  EXPECT_EQ(str(rd(boot::kStartInfoAddr + pvh::kCmdlinePaddr, 8)), "");
}

TEST_F(BootLoaderTest, pvh_initrd_is_a_module_at_the_top_of_low_ram) {
  auto elf = make_elf({.segments = {{0x100000, pattern(0x100, 0), 0x100}}, .pvh_entry = 0x100000});
  auto initrd = pattern(0x12345, 7);
  auto image = load(elf, initrd);
  ASSERT_TRUE(image.ok()) << image.error().message();
  uint64_t si = boot::kStartInfoAddr;
  ASSERT_EQ(rd(si + pvh::kNrModules, 4), 1u);
  uint64_t mod = rd(si + pvh::kModlistPaddr, 8);
  uint64_t addr = rd(mod, 8), size = rd(mod + 8, 8);
  EXPECT_EQ(size, initrd.size());
  EXPECT_EQ(addr % 0x1000, 0u);
  EXPECT_LE(addr + size, kRam);
  EXPECT_GT(addr + size, kRam - 0x1000);
  EXPECT_TRUE(std::equal(initrd.begin(), initrd.end(), ram.begin() + addr));
}

TEST_F(BootLoaderTest, pvh_errors) {
  auto no_note = make_elf({.segments = {{0x100000, pattern(16, 0), 16}}});
  EXPECT_EQ(error_of(no_note), "the ELF kernel has no PVH entry point (Xen note XEN_ELFNOTE_PHYS32_ENTRY)");
  auto wrong_owner = make_elf({.segments = {{0x100000, pattern(16, 0), 16}}, .pvh_entry = 0x100000,
                               .note_name = "Xem"});
  EXPECT_EQ(error_of(wrong_owner), "the ELF kernel has no PVH entry point (Xen note XEN_ELFNOTE_PHYS32_ENTRY)");
  auto outside = make_elf({.segments = {{kRam - 0x100, pattern(16, 0), 0x200}}, .pvh_entry = 0x100000});
  EXPECT_EQ(error_of(outside),
            "ELF segment 0 at 0x3ffff00+0x200 is outside guest RAM (0x4000000 bytes below 4 GiB)");
  auto small = make_elf({.segments = {{0x100000, pattern(16, 0), 0x100000}}, .pvh_entry = 0x100000});
  EXPECT_EQ(error_of(small, std::vector<uint8_t>(kRam - 0x200000 + 1)),
            fmt::format("initrd is too large, cannot support.(max: {}, need {})", kRam - 0x200000,
                        kRam - 0x200000 + 1));
  auto low = make_elf({.segments = {{0x6000, pattern(16, 0), 16}}, .pvh_entry = 0x6000});
  EXPECT_EQ(error_of(low), "segment0 at 0x6000+0x10 overlaps start_info at 0x6000+0x1000");
  std::vector<uint8_t> junk(4096, 0x90);
  EXPECT_EQ(error_of(junk), "the kernel is neither an ELF with a PVH note nor a Linux bzImage");
  auto truncated = make_elf({.segments = {{0x100000, pattern(16, 0), 16}}, .pvh_entry = 0x100000});
  truncated.resize(0x30);
  EXPECT_EQ(error_of(truncated), "ELF header truncated");
}

// --- bzImage ---

TEST_F(BootLoaderTest, bzimage_64bit_entry_boot_params_and_page_tables) {
  BzImageSpec spec;
  auto bz = make_bzimage(spec);
  auto initrd = pattern(0x5000, 3);
  auto image = load(bz, initrd, "console=ttyS0 earlyprintk=serial");
  ASSERT_TRUE(image.ok()) << image.error().message();

  // The protected-mode kernel at pref_address.
  for (size_t i = 0; i < spec.payload_size; i += 0x101) ASSERT_EQ(ram[spec.pref_address + i], uint8_t(i * 7)) << i;
  const X86CpuEntry& e = image->entry;
  EXPECT_EQ(e.rip, spec.pref_address + 0x200);
  EXPECT_EQ(e.rsi, boot::kBootParamsAddr);
  EXPECT_TRUE(e.cr0 & (1ull << 31));
  EXPECT_TRUE(e.cr0 & 1);
  EXPECT_TRUE(e.cr4 & (1u << 5));  // PAE
  EXPECT_EQ(e.efer & 0x500, 0x500u);
  EXPECT_EQ(e.cr3, boot::kPml4Addr);
  EXPECT_EQ(e.cs.selector, 0x10);
  EXPECT_TRUE(e.cs.long_mode);
  EXPECT_FALSE(e.cs.default_big);
  EXPECT_EQ(e.ds.selector, 0x18);
  EXPECT_EQ(e.es.selector, 0x18);
  EXPECT_EQ(e.ss.selector, 0x18);
  EXPECT_EQ(e.rflags & (1u << 9), 0u);
  EXPECT_EQ(rd(boot::kGdtAddr + 0x10, 8), 0x00af9b000000ffffull);

  // boot_params.
  uint64_t bp = e.rsi;
  EXPECT_EQ(rd(bp + bzimage::kHeader, 4), bzimage::kHdrSMagic);
  EXPECT_EQ(rd(bp + bzimage::kVersion, 2), 0x020fu);
  EXPECT_EQ(rd(bp + bzimage::kBootFlag, 2), 0xaa55u);
  EXPECT_EQ(rd(bp + bzimage::kPrefAddress, 8), spec.pref_address);
  EXPECT_EQ(rd(bp + bzimage::kTypeOfLoader, 1), 0xffu);
  EXPECT_EQ(str(rd(bp + bzimage::kCmdLinePtr, 4)), "console=ttyS0 earlyprintk=serial");
  uint64_t rd_addr = rd(bp + bzimage::kRamdiskImage, 4), rd_size = rd(bp + bzimage::kRamdiskSize, 4);
  EXPECT_EQ(rd_size, initrd.size());
  EXPECT_EQ(rd_addr % 0x1000, 0u);
  EXPECT_GE(rd_addr, spec.pref_address + spec.init_size);
  EXPECT_LE(rd_addr + rd_size, kRam);
  EXPECT_TRUE(std::equal(initrd.begin(), initrd.end(), ram.begin() + rd_addr));
  auto map = pc_memory_map(layout);
  ASSERT_EQ(rd(bp + bzimage::kE820Entries, 1), map.size());
  for (size_t i = 0; i < map.size(); ++i) {
    EXPECT_EQ(rd(bp + bzimage::kE820Table + 20 * i, 8), map[i].addr);
    EXPECT_EQ(rd(bp + bzimage::kE820Table + 20 * i + 8, 8), map[i].size);
    EXPECT_EQ(rd(bp + bzimage::kE820Table + 20 * i + 16, 4), map[i].type);
  }
  // Bytes of boot_params outside the header and the loader's fields stay zero (screen_info).
  EXPECT_EQ(rd(bp, 8), 0u);

  // Identity map: walk the tables for a few addresses up to 4 GiB.
  for (uint64_t va : {0x0ull, 0x1000200ull, 0x3fe00000ull, 0xbfe00000ull, 0xfee00000ull}) {
    uint64_t pml4e = rd(e.cr3 + 8 * ((va >> 39) & 511), 8);
    ASSERT_EQ(pml4e & 1, 1u);
    uint64_t pdpte = rd((pml4e & ~0xfffull) + 8 * ((va >> 30) & 511), 8);
    ASSERT_EQ(pdpte & 1, 1u);
    uint64_t pde = rd((pdpte & ~0xfffull) + 8 * ((va >> 21) & 511), 8);
    ASSERT_EQ(pde & 0x83, 0x83u) << std::hex << va;
    EXPECT_EQ((pde & ~0x1fffffull) | (va & 0x1fffff), va);
  }
}

TEST_F(BootLoaderTest, bzimage_relocates_when_pref_address_does_not_fit) {
  auto bz = make_bzimage({.pref_address = 0x8000000});
  auto image = load(bz);
  ASSERT_TRUE(image.ok()) << image.error().message();
  EXPECT_EQ(image->entry.rip, 0x200000u + 0x200);  // 1 MiB rounded up to kernel_alignment
  EXPECT_EQ(ram[0x200001], 7);
}

TEST_F(BootLoaderTest, bzimage_errors) {
  EXPECT_EQ(error_of(make_bzimage({.version = 0x0209})),
            "Linux boot protocol 2.09 is too old: the 64-bit entry needs 2.10 or later");
  EXPECT_EQ(error_of(make_bzimage({.xloadflags = 0x2})),
            "the kernel has no 64-bit entry point (XLF_KERNEL_64 is not set in xloadflags)");
  EXPECT_EQ(error_of(make_bzimage({.cmdline_size = 8}), std::nullopt, "console=ttyS0"),
            "kernel command line too long (13 bytes, the kernel takes at most 8)");
  EXPECT_EQ(error_of(make_bzimage({.pref_address = 0x8000000, .relocatable = 0})),
            "the kernel must be loaded at 0x8000000 and needs 0x400000 bytes there: too little RAM");
  // Room above the kernel: 64 MiB - (16 MiB + 4 MiB).
  uint64_t room = kRam - 0x1400000;
  EXPECT_EQ(error_of(make_bzimage({}), std::vector<uint8_t>(room + 1)),
            fmt::format("initrd is too large, cannot support.(max: {}, need {})", room, room + 1));
  // initrd_addr_max lowers the ceiling.
  EXPECT_EQ(error_of(make_bzimage({.initrd_addr_max = 0x1500000 - 1}), std::vector<uint8_t>(0x100001)),
            "initrd is too large, cannot support.(max: 1048576, need 1048577)");
}

// --- MP table ---

uint8_t sum(const std::vector<uint8_t>& b, size_t off, size_t n) {
  uint8_t s = 0;
  for (size_t i = 0; i < n; ++i) s = static_cast<uint8_t>(s + b[off + i]);
  return s;
}

TEST(MpTableTest, floating_pointer_header_and_checksums) {
  auto t = build_mptable(0xf0000, 2);
  ASSERT_GE(t.size(), 60u);
  EXPECT_EQ(std::string(t.begin(), t.begin() + 4), "_MP_");
  EXPECT_EQ(get_le(t, 4, 4), 0xf0010u);
  EXPECT_EQ(t[8], 1);
  EXPECT_EQ(t[9], 4);
  EXPECT_EQ(sum(t, 0, 16), 0);
  EXPECT_EQ(std::string(t.begin() + 16, t.begin() + 20), "PCMP");
  size_t len = get_le(t, 16 + 4, 2);
  EXPECT_EQ(len, t.size() - 16);
  EXPECT_EQ(sum(t, 16, len), 0);
  EXPECT_EQ(get_le(t, 16 + 36, 4), 0xfee00000u);
  // 2 CPUs, 2 buses, 1 IOAPIC, 15 ISA, 128 PCI, 2 local interrupts.
  EXPECT_EQ(get_le(t, 16 + 34, 2), 2u + 2 + 1 + 15 + 128 + 2);
}

TEST(MpTableTest, entries_describe_cpus_ioapic_isa_and_pci_routing) {
  const unsigned cpus = 3;
  auto t = build_mptable(0xf0000, cpus);
  size_t pos = 16 + 44, end = t.size();
  unsigned processors = 0, bsp = 0;
  std::map<std::pair<int, int>, int> routes;  // (bus, bus irq) -> IOAPIC input
  int ioapic_id = -1;
  while (pos < end) {
    uint8_t type = t[pos];
    if (type == mptable::kEntryProcessor) {
      EXPECT_EQ(t[pos + 1], processors);
      if (t[pos + 3] & 2) ++bsp;
      ++processors;
      pos += 20;
      continue;
    }
    if (type == mptable::kEntryIoApic) {
      ioapic_id = t[pos + 1];
      EXPECT_EQ(get_le(t, pos + 4, 4), PcMachine::kIoApicBase);
    }
    if (type == mptable::kEntryIoInterrupt) {
      EXPECT_EQ(t[pos + 6], ioapic_id);
      routes[{t[pos + 4], t[pos + 5]}] = t[pos + 7];
      if (t[pos + 4] == mptable::kPciBus) {
        EXPECT_EQ(get_le(t, pos + 2, 2), mptable::kFlagsPciLevelHigh);
      }
    }
    pos += 8;
  }
  EXPECT_EQ(pos, end);
  EXPECT_EQ(processors, cpus);
  EXPECT_EQ(bsp, 1u);
  EXPECT_EQ(ioapic_id, static_cast<int>(cpus));
  EXPECT_EQ(routes.at({mptable::kIsaBus, 0}), 2);
  EXPECT_EQ(routes.at({mptable::kIsaBus, 4}), 4);
  EXPECT_EQ(routes.count({mptable::kIsaBus, 2}), 0u);
  for (int slot : {0, 3, 4, 31})
    for (int pin = 0; pin < 4; ++pin)
      EXPECT_EQ(routes.at({mptable::kPciBus, slot << 2 | pin}), static_cast<int>(PcMachine::intx_gsi(slot << 3, pin)));
}

TEST_F(BootLoaderTest, the_mp_table_is_loaded_with_either_kernel) {
  auto image = load(make_bzimage({}));
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(rd(boot::kMpTableAddr, 4), 0x5f504d5fu);  // "_MP_"
}

// --- Debian's bzImage ---

bool nonempty_file(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::is_regular_file(p, ec) && std::filesystem::file_size(p, ec) > 0;
}

// $NAHANNI_TEST_BZIMAGE, else the kernel tests/interop/linux-guest's cached image holds when it
// was built (meson test linux-..., or the kvm suite), else skip.
std::optional<std::string> debian_bzimage() {
  if (const char* p = std::getenv("NAHANNI_TEST_BZIMAGE"); p && nonempty_file(p)) return p;
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);  // BUILD/tests/unit/<this test>
  if (ec) return std::nullopt;
  auto cached = exe.parent_path().parent_path() / "interop" / "linux-guest" / "vmlinuz";
  if (nonempty_file(cached)) return cached.string();
  return std::nullopt;
}

TEST_F(BootLoaderTest, debian_bzimage) {
  auto path = debian_bzimage();
  if (!path) GTEST_SKIP() << "no Debian kernel: build tests/interop/linux-guest's image or set NAHANNI_TEST_BZIMAGE to a vmlinuz";
  std::ifstream f(*path, std::ios::binary);
  std::vector<uint8_t> bz((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  layout = RamLayout{.below_4g = 128ull << 20};
  ram.assign(layout.below_4g, 0);
  auto image = load(bz, pattern(0x100000, 1), "console=ttyS0");
  ASSERT_TRUE(image.ok()) << image.error().message();
  EXPECT_GE(rd(boot::kBootParamsAddr + bzimage::kVersion, 2), 0x020au);
  uint64_t pref = rd(boot::kBootParamsAddr + bzimage::kPrefAddress, 8);
  EXPECT_EQ(image->entry.rip, pref + 0x200);
  uint64_t setup = bz[0x1f1] ? bz[0x1f1] : 4;
  EXPECT_TRUE(std::equal(bz.begin() + (setup + 1) * 512, bz.begin() + (setup + 1) * 512 + 4096, ram.begin() + pref));
  uint64_t initrd = rd(boot::kBootParamsAddr + bzimage::kRamdiskImage, 4);
  EXPECT_GE(initrd, pref + rd(boot::kBootParamsAddr + bzimage::kInitSize, 4));
}

}  // namespace
}  // namespace nahanni::test
