// argv -> XML: our output, libvirt's .args files (JSON, keyval and legacy), and every
// command line <shmem> cannot express, refused with the reason.
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

std::string reversed_xml(std::string_view args) {
  auto result = reverse_text(args);
  if (!result) return "ERROR: " + result.error().message();
  return format_devices_xml(result->domain.shmems);
}

std::string reverse_error(std::string_view args) {
  auto result = reverse_text(args);
  return result ? std::string("(no error)") : result.error().message();
}

TEST(DomxmlReverse, golden_json_lines_give_back_the_shmem_elements) {
  Forward out = forward(read_data("shmem-plain-doorbell.xml"));
  ASSERT_EQ(out.error, "");
  auto result = reverse_text(join_lines(out.lines));
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(format_devices_xml(result->domain.shmems), read_data("shmem-plain-doorbell.reversed.xml"));
  // shmem4..7 have explicit socket paths, so their names come from the ids.
  ASSERT_EQ(result->notes.size(), 4u);
  EXPECT_EQ(result->notes[0],
            R"(-device {"driver":"ivshmem-doorbell","id":"shmem4","chardev":"charshmem4","ioeventfd":true,"bus":"pci.0","addr":"0x6"}: )"
            "the command line does not carry the shmem name of a device with an explicit server path; naming it after its id 'shmem4'");
}

// libvirt's whole .args file for the golden domain: the other options, objects, chardevs and
// devices are skipped, the shmem lines give back the same elements as our own output does.
TEST(DomxmlReverse, libvirt_json_args_file_gives_the_golden_elements) {
  EXPECT_EQ(reversed_xml(read_data("shmem-plain-doorbell.x86_64-latest.args")),
            read_data("shmem-plain-doorbell.reversed.xml"));
}

TEST(DomxmlReverse, libvirt_keyval_args_file_with_environment_and_other_options) {
  EXPECT_EQ(reversed_xml(read_data("shmem-plain-doorbell.keyval.args")),
            "<devices>\n"
            "  <shmem name='shmem0'>\n"
            "    <model type='ivshmem-plain'/>\n"
            "    <size unit='M'>4</size>\n"
            "    <alias name='shmem0'/>\n"
            "    <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>\n"
            "  </shmem>\n"
            "  <shmem name='shmem1' role='peer'>\n"
            "    <model type='ivshmem-plain'/>\n"
            "    <size unit='M'>128</size>\n"
            "    <alias name='shmem1'/>\n"
            "    <address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/>\n"
            "  </shmem>\n"
            "  <shmem name='shmem2' role='master'>\n"
            "    <model type='ivshmem-plain'/>\n"
            "    <size unit='M'>256</size>\n"
            "    <alias name='shmem2'/>\n"
            "    <address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0'/>\n"
            "  </shmem>\n"
            "  <shmem name='shmem3'>\n"
            "    <model type='ivshmem-doorbell'/>\n"
            "    <server path='/var/lib/libvirt/shmem-shmem3-sock'/>\n"
            "    <msi ioeventfd='on'/>\n"
            "    <alias name='shmem3'/>\n"
            "    <address type='pci' domain='0x0000' bus='0x00' slot='0x06' function='0x0'/>\n"
            "  </shmem>\n"
            "  <shmem name='shmem7'>\n"
            "    <model type='ivshmem-doorbell'/>\n"
            "    <server path='/tmp/shmem7-sock'/>\n"
            "    <msi vectors='32' ioeventfd='on'/>\n"
            "    <alias name='shmem7'/>\n"
            "    <address type='pci' domain='0x0000' bus='0x00' slot='0x0a' function='0x0'/>\n"
            "  </shmem>\n"
            "</devices>\n");
}

TEST(DomxmlReverse, legacy_args_give_model_ivshmem) {
  EXPECT_EQ(reversed_xml("-device ivshmem,id=shmem0,size=4m,shm=shmem0,bus=pci.0,addr=0x3\n"
                         "-device ivshmem,id=shmem5,size=2048m,chardev=charshmem5,msi=on,ioeventfd=off,role=peer,bus=pci.0,addr=0x8\n"
                         "-chardev socket,id=charshmem5,path=/var/lib/libvirt/shmem-five-sock\n"),
            "<devices>\n"
            "  <shmem name='shmem0'>\n"
            "    <model type='ivshmem'/>\n"
            "    <size unit='M'>4</size>\n"
            "    <alias name='shmem0'/>\n"
            "    <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>\n"
            "  </shmem>\n"
            "  <shmem name='five' role='peer'>\n"
            "    <model type='ivshmem'/>\n"
            "    <size unit='M'>2048</size>\n"
            "    <server path='/var/lib/libvirt/shmem-five-sock'/>\n"
            "    <msi ioeventfd='off'/>\n"
            "    <alias name='shmem5'/>\n"
            "    <address type='pci' domain='0x0000' bus='0x00' slot='0x08' function='0x0'/>\n"
            "  </shmem>\n"
            "</devices>\n");
}

// Found by the domxml fuzz target: a socket path of the default shape whose middle holds a '/'
// is not a default path (no valid name sits there), so the device id names the shmem.
TEST(DomxmlReverse, default_looking_path_with_a_slash_is_named_after_the_id) {
  auto result = reverse_text("-device ivshmem-doorbell,id=bell,chardev=c\n"
                             "-chardev socket,id=c,path=/var/lib/libvirt/shmem-a/b-sock\n");
  ASSERT_TRUE(result) << result.error().message();
  ASSERT_EQ(result->domain.shmems.size(), 1u);
  EXPECT_EQ(result->domain.shmems[0].name, "bell");
  EXPECT_EQ(result->domain.shmems[0].server->path, "/var/lib/libvirt/shmem-a/b-sock");
  ASSERT_EQ(result->notes.size(), 1u);
}

TEST(DomxmlReverse, legacy_memdev_maps_to_ivshmem_plain_with_a_note) {
  auto result = reverse_text("-object memory-backend-file,id=m,mem-path=/dev/shm/x,size=1M,share=on "
                             "-device ivshmem,id=d,memdev=m");
  ASSERT_TRUE(result) << result.error().message();
  ASSERT_EQ(result->domain.shmems.size(), 1u);
  EXPECT_EQ(result->domain.shmems[0].model, ShmemModel::IvshmemPlain);
  EXPECT_EQ(result->domain.shmems[0].name, "x");
  EXPECT_EQ(result->domain.shmems[0].size, 1048576u);
  EXPECT_EQ(result->notes, std::vector<std::string>{
                               "-device ivshmem,id=d,memdev=m: mapped to model 'ivshmem-plain', which is what the shim creates for memdev"});
}

TEST(DomxmlReverse, option_spellings_and_value_forms_qemu_accepts) {
  auto result = reverse_text("--object memory-backend-file,id=m,mem-path=/dev/shm/x,size=0x100000,share=yes "
                             "--device '{\"driver\":\"ivshmem-plain\",\"id\":\"d\",\"memdev\":\"m\",\"addr\":\"07.1\",\"multifunction\":true}' "
                             "-device ivshmem-plain,memdev=m,bus=pcie.0,addr=8");
  ASSERT_TRUE(result) << result.error().message();
  const auto& shmems = result->domain.shmems;
  ASSERT_EQ(shmems.size(), 2u);
  EXPECT_EQ(shmems[0].address, (PciAddress{.domain = 0, .bus = 0, .slot = 7, .function = 1, .multifunction = true}));
  EXPECT_EQ(shmems[1].alias, std::nullopt);
  EXPECT_EQ(shmems[1].address->slot, 8u);
  EXPECT_EQ(result->domain.machine, MachineFamily::Q35);
}

TEST(DomxmlReverse, nothing_to_map_gives_an_empty_devices_element) {
  EXPECT_EQ(reversed_xml("-machine pc -device piix3-usb-uhci,id=usb -object secret,id=k,data=x"), "<devices>\n</devices>\n");
}

TEST(DomxmlReverse, refuses_what_shmem_cannot_express) {
  const std::string backend = "-object memory-backend-file,id=m,mem-path=/dev/shm/x,size=4M,share=on ";
  EXPECT_EQ(reverse_error("-device ivshmem-plain,id=d,memdev=nope"),
            "-device ivshmem-plain,id=d,memdev=nope: cannot map to <shmem>: memdev 'nope' is not defined by any -object");
  EXPECT_EQ(reverse_error("-object memory-backend-ram,id=m,size=4M -device ivshmem-plain,memdev=m"),
            "-object memory-backend-ram,id=m,size=4M: cannot map to <shmem>: libvirt backs <shmem> only with "
            "memory-backend-file, not memory-backend-ram");
  EXPECT_EQ(reverse_error("-object memory-backend-file,id=m,mem-path=/dev/shm/x,size=4M -device ivshmem-plain,memdev=m"),
            "-object memory-backend-file,id=m,mem-path=/dev/shm/x,size=4M: cannot map to <shmem>: <shmem> memory is "
            "always shared: the backend needs share=on");
  EXPECT_EQ(reverse_error("-object memory-backend-file,id=m,mem-path=/tmp/x,size=4M,share=on -device ivshmem-plain,memdev=m"),
            "-object memory-backend-file,id=m,mem-path=/tmp/x,size=4M,share=on: cannot map to <shmem>: <shmem> names a "
            "file directly in /dev/shm: mem-path must be /dev/shm/NAME");
  EXPECT_EQ(reverse_error("-object memory-backend-file,id=m,mem-path=/dev/shm/x,size=4M,share=on,prealloc=on "
                          "-device ivshmem-plain,memdev=m"),
            "-object memory-backend-file,id=m,mem-path=/dev/shm/x,size=4M,share=on,prealloc=on: cannot map to <shmem>: "
            "memory-backend-file property 'prealloc' has no <shmem> equivalent");
  EXPECT_EQ(reverse_error(backend + "-device ivshmem-plain,memdev=m,master=auto"),
            "-device ivshmem-plain,memdev=m,master=auto: cannot map to <shmem>: master=auto has no role equivalent "
            "(role is master or peer)");
  EXPECT_EQ(reverse_error(backend + "-device ivshmem-plain,memdev=m,romfile=x"),
            "-device ivshmem-plain,memdev=m,romfile=x: cannot map to <shmem>: ivshmem-plain property 'romfile' has no "
            "<shmem> equivalent");
  EXPECT_EQ(reverse_error(backend + "-device ivshmem-plain,memdev=m,addr=0x20"),
            "-device ivshmem-plain,memdev=m,addr=0x20: cannot map to <shmem>: addr '0x20' is not SLOT[.FUNCTION] in hex");
  EXPECT_EQ(reverse_error(backend + "-device ivshmem-plain,memdev=m,bus=pci.0"),
            "-device ivshmem-plain,memdev=m,bus=pci.0: cannot map to <shmem>: a bus or multifunction without addr has "
            "no <address> equivalent");
  EXPECT_EQ(reverse_error(backend + "-device ivshmem-plain,memdev=m,bus=bridge1,addr=1"),
            "-device ivshmem-plain,memdev=m,bus=bridge1,addr=1: cannot map to <shmem>: bus 'bridge1' is not a bus name "
            "libvirt writes (pci.N or pcie.0)");
  EXPECT_EQ(reverse_error("-device ivshmem-doorbell,id=d,chardev=c -chardev socket,id=c,path=/s,server=on,wait=off"),
            "-chardev socket,id=c,path=/s,server=on,wait=off: cannot map to <shmem>: libvirt connects to an "
            "ivshmem-server; a listening chardev (server=on) has no <server> equivalent");
  EXPECT_EQ(reverse_error("-device ivshmem-doorbell,id=d,chardev=c -chardev socket,id=c,host=h,port=1"),
            "-chardev socket,id=c,host=h,port=1: cannot map to <shmem>: <server path=.../> needs a unix socket path");
  EXPECT_EQ(reverse_error("-device ivshmem-doorbell,id=d,chardev=c -chardev stdio,id=c"),
            "-chardev stdio,id=c: cannot map to <shmem>: <server> is a unix socket chardev");
  EXPECT_EQ(reverse_error("-device ivshmem-doorbell,id=d,chardev=c,master=on -chardev socket,id=c,path=/s"),
            "-device ivshmem-doorbell,id=d,chardev=c,master=on: cannot map to <shmem>: libvirt applies role (master) "
            "only to ivshmem-plain; it has no place on ivshmem-doorbell");
  EXPECT_EQ(reverse_error("-device ivshmem-doorbell,chardev=c -chardev socket,id=c,path=/s"),
            "-device ivshmem-doorbell,chardev=c: cannot map to <shmem>: neither the socket path nor a device id gives "
            "the shmem a name");
  EXPECT_EQ(reverse_error("-device ivshmem-doorbell,id=d"),
            "-device ivshmem-doorbell,id=d: cannot map to <shmem>: ivshmem-doorbell without chardev");
  EXPECT_EQ(reverse_error("-device ivshmem,id=d,size=4m"),
            "-device ivshmem,id=d,size=4m: cannot map to <shmem>: the legacy ivshmem needs exactly one of shm, chardev "
            "and memdev");
  EXPECT_EQ(reverse_error("-device ivshmem,id=d,chardev=c,msi=off -chardev socket,id=c,path=/s"),
            "-device ivshmem,id=d,chardev=c,msi=off: cannot map to <shmem>: msi=off has no <shmem> equivalent (<msi> "
            "absent means the device default, on)");
  EXPECT_EQ(reverse_error("-device ivshmem,id=d,shm=x,vectors=2"),
            "-device ivshmem,id=d,shm=x,vectors=2: cannot map to <shmem>: msi, vectors and ioeventfd need a server (chardev)");
  EXPECT_EQ(reverse_error("-device ivshmem,id=d,shm=x,use64=on"),
            "-device ivshmem,id=d,shm=x,use64=on: cannot map to <shmem>: ivshmem property 'use64' has no <shmem> equivalent");
  EXPECT_EQ(reverse_error("-device ivshmem,id=d,shm=x,role=boss"),
            "-device ivshmem,id=d,shm=x,role=boss: cannot map to <shmem>: role 'boss' is neither master nor peer");
}

TEST(DomxmlReverse, refuses_command_lines_libvirt_would_refuse_as_xml) {
  EXPECT_EQ(reverse_error("-object memory-backend-file,id=m,mem-path=/dev/shm/x,size=3M,share=on "
                          "-device ivshmem-plain,id=d,memdev=m"),
            "the command line describes a <shmem> libvirt would refuse: XML error: shmem size must be a power of two");
  EXPECT_EQ(reverse_error("-object memory-backend-file,id=m,mem-path=/dev/shm/x,size=1M,share=on "
                          "-device ivshmem-plain,id=d,memdev=m,addr=4 -device ivshmem-plain,id=e,memdev=m,addr=4"),
            "the command line describes a <shmem> libvirt would refuse: XML error: Attempted double use of PCI "
            "Address 0000:00:04.0");
}

TEST(DomxmlReverse, syntax_errors_name_the_option) {
  EXPECT_EQ(reverse_error("-device '{\"driver\":\"ivshmem-plain\"'"),
            "-device {\"driver\":\"ivshmem-plain\": JSON parse error, premature EOI");
  EXPECT_EQ(reverse_error("-machine pc -device"), "-device: requires an argument");
  EXPECT_EQ(reverse_error("-object memory-backend-file,id=m,mem-path=/dev/shm/x,size=4Q,share=on -device ivshmem-plain,memdev=m"),
            "-object memory-backend-file,id=m,mem-path=/dev/shm/x,size=4Q,share=on: cannot map to <shmem>: Parameter "
            "'size' expects a size value");
  EXPECT_EQ(reverse_error("-device 'ivshmem-plain,memdev=m"), "unterminated single quote");
}

}  // namespace
}  // namespace nahanni::domxml::testing
