// XML -> argv: every attribute and model, against the argv libvirt's test data shows.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "domxml-helpers.h"

namespace nahanni::domxml::testing {
namespace {

std::string read_data(const std::string& name) {
  std::ifstream in(std::string(DOMXML_TEST_DATA) + "/" + name);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// libvirt tests/qemuxmlconfdata/shmem-plain-doorbell.x86_64-latest.args, the shmem lines.
const std::vector<std::string> kGoldenJson = {
    R"(-object '{"qom-type":"memory-backend-file","id":"shmmem-shmem0","mem-path":"/dev/shm/shmem0","size":4194304,"share":true}')",
    R"(-device '{"driver":"ivshmem-plain","id":"shmem0","memdev":"shmmem-shmem0","bus":"pci.0","addr":"0x2"}')",
    R"(-object '{"qom-type":"memory-backend-file","id":"shmmem-shmem1","mem-path":"/dev/shm/shmem1","size":134217728,"share":true}')",
    R"(-device '{"driver":"ivshmem-plain","id":"shmem1","memdev":"shmmem-shmem1","master":"off","bus":"pci.0","addr":"0x3"}')",
    R"(-object '{"qom-type":"memory-backend-file","id":"shmmem-shmem2","mem-path":"/dev/shm/shmem2","size":268435456,"share":true}')",
    R"(-device '{"driver":"ivshmem-plain","id":"shmem2","memdev":"shmmem-shmem2","master":"on","bus":"pci.0","addr":"0x4"}')",
    R"(-device '{"driver":"ivshmem-doorbell","id":"shmem3","chardev":"charshmem3","ioeventfd":true,"bus":"pci.0","addr":"0x5"}')",
    R"(-chardev socket,id=charshmem3,path=/var/lib/libvirt/shmem-shmem3-sock)",
    R"(-device '{"driver":"ivshmem-doorbell","id":"shmem4","chardev":"charshmem4","ioeventfd":true,"bus":"pci.0","addr":"0x6"}')",
    R"(-chardev socket,id=charshmem4,path=/tmp/shmem4-sock)",
    R"(-device '{"driver":"ivshmem-doorbell","id":"shmem5","chardev":"charshmem5","ioeventfd":false,"bus":"pci.0","addr":"0x7"}')",
    R"(-chardev socket,id=charshmem5,path=/tmp/shmem5-sock)",
    R"(-device '{"driver":"ivshmem-doorbell","id":"shmem6","chardev":"charshmem6","vectors":16,"ioeventfd":true,"bus":"pci.0","addr":"0x8"}')",
    R"(-chardev socket,id=charshmem6,path=/tmp/shmem6-sock)",
    R"(-device '{"driver":"ivshmem-doorbell","id":"shmem7","chardev":"charshmem7","vectors":32,"ioeventfd":true,"bus":"pci.0","addr":"0x9"}')",
    R"(-chardev socket,id=charshmem7,path=/tmp/shmem7-sock)",
};

TEST(DomxmlForward, golden_shmem0_to_shmem7_json_matches_libvirt_args) {
  Forward out = forward(read_data("shmem-plain-doorbell.xml"));
  ASSERT_EQ(out.error, "");
  EXPECT_EQ(out.lines, kGoldenJson);
  EXPECT_TRUE(out.notes.empty());
}

// The keyval spelling libvirt writes when QEMU lacks JSON -device (as in its older
// shmem-plain-doorbell.args): bare driver, booleans on/off, size in bytes.
TEST(DomxmlForward, golden_shmem0_to_shmem7_keyval) {
  Forward out = forward(read_data("shmem-plain-doorbell.xml"), ArgFormat::Keyval);
  ASSERT_EQ(out.error, "");
  const std::vector<std::string> expected = {
      "-object memory-backend-file,id=shmmem-shmem0,mem-path=/dev/shm/shmem0,size=4194304,share=on",
      "-device ivshmem-plain,id=shmem0,memdev=shmmem-shmem0,bus=pci.0,addr=0x2",
      "-object memory-backend-file,id=shmmem-shmem1,mem-path=/dev/shm/shmem1,size=134217728,share=on",
      "-device ivshmem-plain,id=shmem1,memdev=shmmem-shmem1,master=off,bus=pci.0,addr=0x3",
      "-object memory-backend-file,id=shmmem-shmem2,mem-path=/dev/shm/shmem2,size=268435456,share=on",
      "-device ivshmem-plain,id=shmem2,memdev=shmmem-shmem2,master=on,bus=pci.0,addr=0x4",
      "-device ivshmem-doorbell,id=shmem3,chardev=charshmem3,ioeventfd=on,bus=pci.0,addr=0x5",
      "-chardev socket,id=charshmem3,path=/var/lib/libvirt/shmem-shmem3-sock",
      "-device ivshmem-doorbell,id=shmem4,chardev=charshmem4,ioeventfd=on,bus=pci.0,addr=0x6",
      "-chardev socket,id=charshmem4,path=/tmp/shmem4-sock",
      "-device ivshmem-doorbell,id=shmem5,chardev=charshmem5,ioeventfd=off,bus=pci.0,addr=0x7",
      "-chardev socket,id=charshmem5,path=/tmp/shmem5-sock",
      "-device ivshmem-doorbell,id=shmem6,chardev=charshmem6,vectors=16,ioeventfd=on,bus=pci.0,addr=0x8",
      "-chardev socket,id=charshmem6,path=/tmp/shmem6-sock",
      "-device ivshmem-doorbell,id=shmem7,chardev=charshmem7,vectors=32,ioeventfd=on,bus=pci.0,addr=0x9",
      "-chardev socket,id=charshmem7,path=/tmp/shmem7-sock",
  };
  EXPECT_EQ(out.lines, expected);
}

// libvirt's old tests/qemuxml2argvdata/shmem.{xml,args}: the legacy device. A video card
// without address keeps slot 2, so the shmems start at 3 exactly as in that file.
TEST(DomxmlForward, legacy_ivshmem_matches_old_libvirt_args) {
  Forward out = forward(read_data("shmem-legacy.xml"));
  ASSERT_EQ(out.error, "");
  const std::vector<std::string> expected = {
      "-device ivshmem,id=shmem0,size=4m,shm=shmem0,bus=pci.0,addr=0x3",
      "-device ivshmem,id=shmem1,size=128m,shm=shmem1,bus=pci.0,addr=0x5",
      "-device ivshmem,id=shmem2,size=256m,shm=shmem2,bus=pci.0,addr=0x4",
      "-device ivshmem,id=shmem3,size=512m,chardev=charshmem3,bus=pci.0,addr=0x6",
      "-chardev socket,id=charshmem3,path=/var/lib/libvirt/shmem-shmem3-sock",
      "-device ivshmem,id=shmem4,size=1024m,chardev=charshmem4,bus=pci.0,addr=0x7",
      "-chardev socket,id=charshmem4,path=/tmp/shmem4-sock",
      "-device ivshmem,id=shmem5,size=2048m,chardev=charshmem5,msi=on,ioeventfd=off,bus=pci.0,addr=0x8",
      "-chardev socket,id=charshmem5,path=/tmp/shmem5-sock",
      "-device ivshmem,id=shmem6,size=4096m,chardev=charshmem6,msi=on,vectors=16,bus=pci.0,addr=0x9",
      "-chardev socket,id=charshmem6,path=/tmp/shmem6-sock",
      "-device ivshmem,id=shmem7,size=8192m,chardev=charshmem7,msi=on,vectors=32,ioeventfd=on,bus=pci.0,addr=0xa",
      "-chardev socket,id=charshmem7,path=/tmp/shmem7-sock",
  };
  EXPECT_EQ(out.lines, expected);
  // One deprecation note per legacy device; --format does not change the legacy spelling.
  ASSERT_EQ(out.notes.size(), 8u);
  EXPECT_EQ(out.notes[0],
            "shmem 'shmem0': model 'ivshmem' is deprecated and current libvirt refuses it; emitting the legacy "
            "'-device ivshmem' for nahanni's compatibility shim, use 'ivshmem-plain' or 'ivshmem-doorbell'");
  EXPECT_EQ(forward(read_data("shmem-legacy.xml"), ArgFormat::Keyval).lines, expected);
}

// The example of libvirt's formatdomain documentation. Its doorbell carries a <size>, which
// libvirt's own post-parse check refuses; without it the example gives these lines.
TEST(DomxmlForward, formatdomain_example) {
  const std::string plain = "<shmem name='my_shmem0' role='peer'><model type='ivshmem-plain'/><size unit='M'>4</size></shmem>";
  const std::string doorbell_head = "<shmem name='shmem_server'><model type='ivshmem-doorbell'/>";
  const std::string doorbell_tail = "<server path='/tmp/socket-shmem'/><msi vectors='32' ioeventfd='on'/></shmem>";
  EXPECT_EQ(error_of(plain + doorbell_head + "<size unit='M'>2</size>" + doorbell_tail),
            "unsupported configuration: shmem model 'ivshmem-doorbell' does not support size setting");
  Forward out = forward(domain_with(plain + doorbell_head + doorbell_tail));
  ASSERT_EQ(out.error, "");
  const std::vector<std::string> expected = {
      R"(-object '{"qom-type":"memory-backend-file","id":"shmmem-shmem0","mem-path":"/dev/shm/my_shmem0","size":4194304,"share":true}')",
      R"(-device '{"driver":"ivshmem-plain","id":"shmem0","memdev":"shmmem-shmem0","master":"off","bus":"pci.0","addr":"0x2"}')",
      R"(-device '{"driver":"ivshmem-doorbell","id":"shmem1","chardev":"charshmem1","vectors":32,"ioeventfd":true,"bus":"pci.0","addr":"0x3"}')",
      "-chardev socket,id=charshmem1,path=/tmp/socket-shmem",
  };
  EXPECT_EQ(out.lines, expected);
}

TEST(DomxmlForward, missing_model_is_the_legacy_model_as_in_libvirt) {
  Forward out = forward(domain_with("<shmem name='old'/>"));
  ASSERT_EQ(out.error, "");
  EXPECT_EQ(out.lines, std::vector<std::string>{"-device ivshmem,id=shmem0,size=4m,shm=old,bus=pci.0,addr=0x2"});
  EXPECT_EQ(out.notes.size(), 1u);
}

TEST(DomxmlForward, legacy_role_is_passed_to_the_shim) {
  Forward out = forward(domain_with("<shmem name='a' role='master'><model type='ivshmem'/><size unit='M'>2</size></shmem>"
                                    "<shmem name='b' role='peer'><model type='ivshmem'/><server path='/run/s'/>"
                                    "<msi vectors='4'/></shmem>"));
  ASSERT_EQ(out.error, "");
  const std::vector<std::string> expected = {
      "-device ivshmem,id=shmem0,size=2m,shm=a,role=master,bus=pci.0,addr=0x2",
      "-device ivshmem,id=shmem1,size=4m,chardev=charshmem1,msi=on,vectors=4,role=peer,bus=pci.0,addr=0x3",
      "-chardev socket,id=charshmem1,path=/run/s",
  };
  EXPECT_EQ(out.lines, expected);
}

TEST(DomxmlForward, size_units_follow_libvirt_scaling) {
  struct Case {
    std::string size;
    uint64_t bytes;
  } cases[] = {
      {"<size>1048576</size>", 1048576},           // no unit: bytes
      {"<size unit='b'>2097152</size>", 2097152},
      {"<size unit='bytes'>2097152</size>", 2097152},
      {"<size unit='KiB'>1024</size>", 1048576},
      {"<size unit='k'>2048</size>", 2097152},
      {"<size unit='M'>8</size>", 8388608},
      {"<size unit='MiB'>16</size>", 16777216},
      {"<size unit='G'>1</size>", 1073741824},
      {"<size unit='gib'>2</size>", 2147483648},
      {"<size unit='T'>1</size>", 1099511627776},
      {"<size unit='M'></size>", 4194304},  // empty: the 4 MiB default
  };
  for (const auto& c : cases) {
    Forward out = forward(domain_with("<shmem name='s'><model type='ivshmem-plain'/>" + c.size + "</shmem>"));
    ASSERT_EQ(out.error, "") << c.size;
    EXPECT_EQ(out.lines[0], "-object '{\"qom-type\":\"memory-backend-file\",\"id\":\"shmmem-shmem0\",\"mem-path\":"
                            "\"/dev/shm/s\",\"size\":" + std::to_string(c.bytes) + ",\"share\":true}'")
        << c.size;
  }
}

TEST(DomxmlForward, explicit_pci_address_with_function_bus_and_multifunction) {
  Forward out = forward(domain_with(
      "<shmem name='a'><model type='ivshmem-plain'/><address type='pci' domain='0x0000' bus='0x00' slot='0x07' "
      "function='0x0' multifunction='on'/></shmem>"
      "<shmem name='b'><model type='ivshmem-plain'/><address type='pci' domain='0x0000' bus='0x00' slot='0x07' "
      "function='0x1'/></shmem>"
      "<shmem name='c'><model type='ivshmem-plain'/><address type='pci' bus='0x02' slot='0x01' "
      "multifunction='off'/></shmem>"));
  ASSERT_EQ(out.error, "");
  EXPECT_EQ(out.lines[1],
            R"(-device '{"driver":"ivshmem-plain","id":"shmem0","memdev":"shmmem-shmem0","bus":"pci.0","multifunction":true,"addr":"0x7"}')");
  EXPECT_EQ(out.lines[3],
            R"(-device '{"driver":"ivshmem-plain","id":"shmem1","memdev":"shmmem-shmem1","bus":"pci.0","addr":"0x7.0x1"}')");
  EXPECT_EQ(out.lines[5],
            R"(-device '{"driver":"ivshmem-plain","id":"shmem2","memdev":"shmmem-shmem2","bus":"pci.2","multifunction":false,"addr":"0x1"}')");
  Forward kv = forward(domain_with("<shmem name='a'><model type='ivshmem-plain'/><address type='pci' slot='0x07' "
                                   "multifunction='on'/></shmem>"),
                       ArgFormat::Keyval);
  EXPECT_EQ(kv.lines[1], "-device ivshmem-plain,id=shmem0,memdev=shmmem-shmem0,bus=pci.0,multifunction=on,addr=0x7");
}

TEST(DomxmlForward, address_numbers_accept_decimal_hex_and_octal_as_libvirt) {
  Forward out = forward(domain_with("<shmem name='a'><model type='ivshmem-plain'/><address type='pci' slot='10'/></shmem>"
                                    "<shmem name='b'><model type='ivshmem-plain'/><address type='pci' slot='011'/></shmem>"));
  ASSERT_EQ(out.error, "");
  EXPECT_EQ(out.domain.shmems[0].address->slot, 10u);
  EXPECT_EQ(out.domain.shmems[1].address->slot, 9u);
}

TEST(DomxmlForward, empty_pci_address_means_assign_one) {
  Forward out = forward(domain_with("<shmem name='a'><model type='ivshmem-plain'/><address type='pci'/></shmem>"));
  ASSERT_EQ(out.error, "");
  EXPECT_EQ(out.domain.shmems[0].address->slot, 2u);
}

TEST(DomxmlForward, auto_addresses_skip_slots_other_devices_hold) {
  Forward out = forward(domain_with(
      "<interface type='network'><address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/></interface>"
      "<disk type='file'><address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/></disk>"
      "<disk type='file'><address type='drive' controller='0' bus='0' unit='0'/></disk>"
      "<shmem name='a'><model type='ivshmem-plain'/></shmem>"));
  ASSERT_EQ(out.error, "");
  EXPECT_EQ(out.domain.shmems[0].address->slot, 4u);
}

TEST(DomxmlForward, q35_root_bus_is_pcie_0) {
  Forward out = forward(domain_with("<shmem name='a'><model type='ivshmem-plain'/><address type='pci' bus='0x00' "
                                    "slot='0x05'/></shmem>",
                                    "pc-q35-8.0"));
  ASSERT_EQ(out.error, "");
  EXPECT_EQ(out.lines[1], R"(-device '{"driver":"ivshmem-plain","id":"shmem0","memdev":"shmmem-shmem0","bus":"pcie.0","addr":"0x5"}')");
}

TEST(DomxmlForward, alias_element_names_the_device_backend_and_chardev) {
  Forward out = forward(domain_with("<shmem name='a'><model type='ivshmem-plain'/><alias name='ua-mine'/></shmem>"
                                    "<shmem name='b'><model type='ivshmem-doorbell'/><server/><alias name='ua-bell'/></shmem>"));
  ASSERT_EQ(out.error, "");
  EXPECT_EQ(out.lines[0], R"(-object '{"qom-type":"memory-backend-file","id":"shmmem-ua-mine","mem-path":"/dev/shm/a","size":4194304,"share":true}')");
  EXPECT_EQ(out.lines[1], R"(-device '{"driver":"ivshmem-plain","id":"ua-mine","memdev":"shmmem-ua-mine","bus":"pci.0","addr":"0x2"}')");
  EXPECT_EQ(out.lines[2], R"(-device '{"driver":"ivshmem-doorbell","id":"ua-bell","chardev":"charua-bell","ioeventfd":true,"bus":"pci.0","addr":"0x3"}')");
  EXPECT_EQ(out.lines[3], "-chardev socket,id=charua-bell,path=/var/lib/libvirt/shmem-b-sock");
}

TEST(DomxmlForward, vectors_accept_hex_as_libvirt) {
  Forward out = forward(domain_with("<shmem name='d'><model type='ivshmem-doorbell'/><server path='/s'/>"
                                    "<msi vectors='0x10' ioeventfd='off'/></shmem>"));
  ASSERT_EQ(out.error, "");
  EXPECT_EQ(out.lines[0], R"(-device '{"driver":"ivshmem-doorbell","id":"shmem0","chardev":"charshmem0","vectors":16,"ioeventfd":false,"bus":"pci.0","addr":"0x2"}')");
}

TEST(DomxmlForward, server_path_is_sanitized_like_libvirt) {
  Forward out = forward(domain_with("<shmem name='d'><model type='ivshmem-doorbell'/><server path='/tmp//x///s/'/></shmem>"));
  ASSERT_EQ(out.error, "");
  EXPECT_EQ(out.lines[1], "-chardev socket,id=charshmem0,path=/tmp/x/s");
}

TEST(DomxmlForward, commas_and_quotes_are_escaped_for_each_syntax) {
  std::string xml = domain_with("<shmem name=\"it's,odd\"><model type='ivshmem-plain'/></shmem>"
                                "<shmem name='d'><model type='ivshmem-doorbell'/><server path='/tmp/a,b c'/></shmem>");
  Forward json = forward(xml);
  ASSERT_EQ(json.error, "");
  EXPECT_EQ(json.lines[0], R"(-object '{"qom-type":"memory-backend-file","id":"shmmem-shmem0","mem-path":"/dev/shm/it'\''s,odd","size":4194304,"share":true}')");
  EXPECT_EQ(json.lines[3], "-chardev 'socket,id=charshmem1,path=/tmp/a,,b c'");
  Forward kv = forward(xml, ArgFormat::Keyval);
  EXPECT_EQ(kv.lines[0], R"(-object 'memory-backend-file,id=shmmem-shmem0,mem-path=/dev/shm/it'\''s,,odd,size=4194304,share=on')");
  Forward legacy = forward(domain_with("<shmem name='a,b'/>"));
  EXPECT_EQ(legacy.lines[0], "-device ivshmem,id=shmem0,size=4m,shm=a,,b,bus=pci.0,addr=0x2");
}

TEST(DomxmlForward, doorbell_role_is_ignored_with_a_note_as_libvirt_drops_it) {
  Forward out = forward(domain_with("<shmem name='d' role='master'><model type='ivshmem-doorbell'/><server/></shmem>"));
  ASSERT_EQ(out.error, "");
  EXPECT_EQ(out.lines[0], R"(-device '{"driver":"ivshmem-doorbell","id":"shmem0","chardev":"charshmem0","ioeventfd":true,"bus":"pci.0","addr":"0x2"}')");
  EXPECT_EQ(out.notes, std::vector<std::string>{"shmem 'd': role 'master' is ignored for model 'ivshmem-doorbell', as libvirt does"});
}

TEST(DomxmlForward, accepts_a_devices_document_and_a_lone_shmem) {
  EXPECT_EQ(forward("<devices><shmem name='a'><model type='ivshmem-plain'/></shmem></devices>").lines.size(), 2u);
  EXPECT_EQ(forward("<shmem name='a'><model type='ivshmem-plain'/></shmem>").lines.size(), 2u);
  EXPECT_EQ(forward("<domain><name>x</name></domain>").lines.size(), 0u);
}

TEST(DomxmlForward, thirty_shmems_fill_slots_2_to_31) {
  std::string devices;
  for (int i = 0; i < 30; ++i) devices += "<shmem name='s" + std::to_string(i) + "'><model type='ivshmem-plain'/></shmem>";
  Forward out = forward(domain_with(devices));
  ASSERT_EQ(out.error, "");
  EXPECT_EQ(out.domain.shmems.back().address->slot, 31u);
  EXPECT_EQ(error_of(devices + "<shmem name='one-more'><model type='ivshmem-plain'/></shmem>"),
            "internal error: No more available PCI slots");
}

}  // namespace
}  // namespace nahanni::domxml::testing
