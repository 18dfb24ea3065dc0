// Every input libvirt refuses, with libvirt's message (class prefix included), in the order
// libvirt checks: parse, post-parse, validate, command line.
#include <gtest/gtest.h>

#include "domxml-helpers.h"

namespace nahanni::domxml::testing {
namespace {

const std::string kPlain = "<model type='ivshmem-plain'/>";
const std::string kDoorbell = "<model type='ivshmem-doorbell'/>";

TEST(DomxmlErrors, malformed_xml_names_file_and_line) {
  EXPECT_EQ(forward("<domain>\n<devices>\n<shmem name='a'>\n</devices>\n</domain>").error,
            "dom.xml:4: Opening and ending tag mismatch: shmem line 3 and devices");
  EXPECT_EQ(forward("").error, "dom.xml:1: Document is empty");
}

TEST(DomxmlErrors, unexpected_root_element) {
  EXPECT_EQ(forward("<network/>").error, "XML error: unexpected root element <network>, expecting <domain>");
}

TEST(DomxmlErrors, unknown_model) {
  EXPECT_EQ(error_of("<shmem name='a'><model type='ivshmem-turbo'/></shmem>"),
            "XML error: Invalid value for attribute 'type' in element 'model': 'ivshmem-turbo'.");
}

TEST(DomxmlErrors, missing_name) {
  EXPECT_EQ(error_of("<shmem>" + kPlain + "</shmem>"), "XML error: shmem element must contain 'name' attribute");
}

TEST(DomxmlErrors, bad_role) {
  EXPECT_EQ(error_of("<shmem name='a' role='boss'>" + kPlain + "</shmem>"),
            "XML error: Invalid value for attribute 'role' in element 'shmem': 'boss'.");
}

TEST(DomxmlErrors, size_that_is_not_a_number) {
  EXPECT_EQ(error_of("<shmem name='a'>" + kPlain + "<size unit='M'>four</size></shmem>"),
            "XML error: Invalid value 'four' for element or attribute './size[1]'");
  EXPECT_EQ(error_of("<shmem name='a'>" + kPlain + "<size unit='M'>-4</size></shmem>"),
            "XML error: Invalid value '-4' for element or attribute './size[1]'");
}

TEST(DomxmlErrors, size_with_unknown_unit) {
  EXPECT_EQ(error_of("<shmem name='a'>" + kPlain + "<size unit='Q'>4</size></shmem>"),
            "invalid argument: unknown suffix 'Q'");
  EXPECT_EQ(error_of("<shmem name='a'>" + kPlain + "<size unit='Mbit'>4</size></shmem>"),
            "invalid argument: unknown suffix 'Mbit'");
}

TEST(DomxmlErrors, size_overflow) {
  EXPECT_EQ(error_of("<shmem name='a'>" + kPlain + "<size unit='E'>16</size></shmem>"),
            "numerical overflow: value too large: 16E");
}

TEST(DomxmlErrors, size_not_a_power_of_two) {
  EXPECT_EQ(error_of("<shmem name='a'>" + kPlain + "<size unit='M'>3</size></shmem>"),
            "XML error: shmem size must be a power of two");
  // 1000-based units rarely give powers of two.
  EXPECT_EQ(error_of("<shmem name='a'>" + kPlain + "<size unit='MB'>4</size></shmem>"),
            "XML error: shmem size must be a power of two");
  EXPECT_EQ(error_of("<shmem name='a'><size unit='M'>6</size></shmem>"), "XML error: shmem size must be a power of two");
}

TEST(DomxmlErrors, size_below_one_mebibyte) {
  EXPECT_EQ(error_of("<shmem name='a'>" + kPlain + "<size unit='KiB'>512</size></shmem>"),
            "XML error: shmem size must be at least 1 MiB (1024 KiB)");
  EXPECT_EQ(error_of("<shmem name='a'>" + kPlain + "<size>4096</size></shmem>"),
            "XML error: shmem size must be at least 1 MiB (1024 KiB)");
}

TEST(DomxmlErrors, server_on_ivshmem_plain) {
  EXPECT_EQ(error_of("<shmem name='a'>" + kPlain + "<server path='/tmp/s'/></shmem>"),
            "unsupported configuration: shmem model 'ivshmem-plain' is supported only with server option disabled");
}

TEST(DomxmlErrors, doorbell_without_server) {
  EXPECT_EQ(error_of("<shmem name='a'>" + kDoorbell + "</shmem>"),
            "unsupported configuration: shmem model 'ivshmem-doorbell' is supported only with server option enabled");
}

TEST(DomxmlErrors, doorbell_with_size) {
  EXPECT_EQ(error_of("<shmem name='a'>" + kDoorbell + "<size unit='M'>4</size><server/></shmem>"),
            "unsupported configuration: shmem model 'ivshmem-doorbell' does not support size setting");
}

TEST(DomxmlErrors, msi_without_server) {
  EXPECT_EQ(error_of("<shmem name='a'>" + kPlain + "<msi vectors='2'/></shmem>"),
            "XML error: msi option is only supported with a server");
  EXPECT_EQ(error_of("<shmem name='a'><msi/></shmem>"), "XML error: msi option is only supported with a server");
}

TEST(DomxmlErrors, bad_msi_attributes) {
  EXPECT_EQ(error_of("<shmem name='a'>" + kDoorbell + "<server/><msi vectors='many'/></shmem>"),
            "XML error: Invalid value for attribute 'vectors' in element 'msi': 'many'. Expected non-negative integer value");
  EXPECT_EQ(error_of("<shmem name='a'>" + kDoorbell + "<server/><msi vectors='-1'/></shmem>"),
            "XML error: Invalid value for attribute 'vectors' in element 'msi': '-1'. Expected non-negative integer value");
  EXPECT_EQ(error_of("<shmem name='a'>" + kDoorbell + "<server/><msi ioeventfd='yes'/></shmem>"),
            "XML error: Invalid value for attribute 'ioeventfd' in element 'msi': 'yes'.");
}

TEST(DomxmlErrors, names_that_are_not_file_names) {
  EXPECT_EQ(error_of("<shmem name='.'>" + kPlain + "</shmem>"), "unsupported configuration: shmem name cannot be equal to '.'");
  EXPECT_EQ(error_of("<shmem name='..'>" + kPlain + "</shmem>"), "unsupported configuration: shmem name cannot be equal to '..'");
  EXPECT_EQ(error_of("<shmem name='a/b'>" + kPlain + "</shmem>"),
            "unsupported configuration: shmem name cannot include '/' character");
  EXPECT_EQ(error_of("<shmem name=''>" + kPlain + "</shmem>"), "unsupported configuration: shmem name cannot be empty");
}

TEST(DomxmlErrors, non_pci_addresses) {
  EXPECT_EQ(error_of("<shmem name='a'>" + kPlain + "<address type='isa'/></shmem>"),
            "unsupported configuration: only 'pci' addresses are supported for the shared memory device");
  EXPECT_EQ(error_of("<shmem name='a'>" + kDoorbell + "<server/><address type='usb' bus='0' port='1'/></shmem>"),
            "unsupported configuration: only 'pci' addresses are supported for the shared memory device");
  EXPECT_EQ(error_of("<shmem name='a'>" + kPlain + "<address type='bogus'/></shmem>"),
            "XML error: Invalid value for attribute 'type' in element 'address': 'bogus'.");
  EXPECT_EQ(error_of("<shmem name='a'>" + kPlain + "<address slot='2'/></shmem>"),
            "XML error: Missing required attribute 'type' in element 'address'");
}

TEST(DomxmlErrors, size_is_checked_before_the_address_as_in_libvirt) {
  EXPECT_EQ(error_of("<shmem name='a'>" + kPlain + "<size unit='M'>3</size><address type='isa'/></shmem>"),
            "XML error: shmem size must be a power of two");
}

TEST(DomxmlErrors, pci_address_out_of_range) {
  EXPECT_EQ(error_of("<shmem name='a'>" + kPlain + "<address type='pci' slot='0x20'/></shmem>"),
            "XML error: Invalid PCI address slot='0x20', must be <= 0x1F");
  EXPECT_EQ(error_of("<shmem name='a'>" + kPlain + "<address type='pci' slot='0x2' function='8'/></shmem>"),
            "XML error: Invalid PCI address function=0x8, must be <= 7");
  EXPECT_EQ(error_of("<shmem name='a'>" + kPlain + "<address type='pci' bus='0x100' slot='0x2'/></shmem>"),
            "XML error: Invalid PCI address bus='0x100', must be <= 0xFF");
  EXPECT_EQ(error_of("<shmem name='a'>" + kPlain + "<address type='pci' slot='x'/></shmem>"),
            "XML error: Invalid value for attribute 'slot' in element 'address': 'x'. Expected non-negative integer value");
  EXPECT_EQ(error_of("<shmem name='a'>" + kPlain + "<address type='pci' slot='2' multifunction='yes'/></shmem>"),
            "XML error: Invalid value for attribute 'multifunction' in element 'address': 'yes'.");
  EXPECT_EQ(error_of("<shmem name='a'>" + kPlain + "<address type='pci' domain='0x0001' slot='2'/></shmem>"),
            "internal error: Only PCI device addresses with domain=0 are supported");
}

TEST(DomxmlErrors, double_use_of_a_pci_address) {
  EXPECT_EQ(error_of("<shmem name='a'>" + kPlain + "<address type='pci' slot='5'/></shmem>"
                     "<shmem name='b'>" + kPlain + "<address type='pci' slot='5'/></shmem>"),
            "XML error: Attempted double use of PCI Address 0000:00:05.0");
  EXPECT_EQ(error_of("<shmem name='a'>" + kPlain + "<address type='pci' slot='1'/></shmem>"),
            "XML error: Attempted double use of PCI Address 0000:00:01.0");
  EXPECT_EQ(error_of("<disk><address type='pci' domain='0' bus='0' slot='6' function='0'/></disk>"
                     "<shmem name='a'>" + kPlain + "<address type='pci' slot='6'/></shmem>"),
            "XML error: Attempted double use of PCI Address 0000:00:06.0");
}

TEST(DomxmlErrors, aliases) {
  EXPECT_EQ(error_of("<shmem name='a'>" + kPlain + "<alias name='x'/></shmem><shmem name='b'>" + kPlain +
                     "<alias name='x'/></shmem>"),
            "XML error: non unique alias detected: x");
  // Without an alias element the second device is shmem1, which the first one took.
  EXPECT_EQ(error_of("<shmem name='a'>" + kPlain + "<alias name='shmem1'/></shmem><shmem name='b'>" + kPlain + "</shmem>"),
            "XML error: non unique alias detected: shmem1");
  EXPECT_EQ(error_of("<shmem name='a'>" + kPlain + "<alias name='9lives'/></shmem>"),
            "unsupported configuration: shmem alias '9lives' is not a valid QEMU id");
  EXPECT_EQ(error_of("<shmem name='a'>" + kPlain + "<alias/></shmem>"),
            "XML error: Missing required attribute 'name' in element 'alias'");
}

TEST(DomxmlErrors, strict_mode_refuses_legacy_ivshmem_as_current_libvirt) {
  EXPECT_EQ(error_of("<shmem name='a'><model type='ivshmem'/></shmem>", PrepareOptions{.allow_legacy_ivshmem = false}),
            "unsupported configuration: ivshmem device is no longer supported");
}

TEST(DomxmlErrors, q35_needs_explicit_addresses) {
  EXPECT_EQ(forward(domain_with("<shmem name='a'>" + kPlain + "</shmem>", "q35")).error,
            "unsupported configuration: shmem 'a' has no PCI address; on q35 libvirt places it behind a "
            "pcie-to-pci-bridge, which this tool does not create: give it an explicit "
            "<address type='pci' bus=... slot=.../>");
}

}  // namespace
}  // namespace nahanni::domxml::testing
