// XML -> argv -> XML keeps every field, over a generated set of <shmem> elements covering
// every model, role, size, server, msi and address form, in both output syntaxes. The one
// documented loss: a doorbell with an explicit socket path comes back named after its id.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "domxml-helpers.h"

namespace nahanni::domxml::testing {
namespace {

struct Variant {
  std::string xml;  // the <shmem> element
  std::string label;
};

std::vector<Variant> generate() {
  std::vector<Variant> out;
  const std::vector<std::string> roles = {"", " role='master'", " role='peer'"};
  const std::vector<std::string> sizes = {"", "<size unit='M'>1</size>", "<size unit='KiB'>2048</size>",
                                          "<size unit='G'>2</size>", "<size>16777216</size>"};
  const std::vector<std::string> addresses = {
      "", "<address type='pci' domain='0x0000' bus='0x00' slot='0x1e' function='0x0'/>",
      "<address type='pci' bus='0x00' slot='0x1d' function='0x3' multifunction='on'/>",
      "<address type='pci' bus='0x03' slot='0x01' function='0x0' multifunction='off'/>"};
  const std::vector<std::string> aliases = {"", "<alias name='ua-x'/>"};
  const std::vector<std::string> names = {"shm", "odd,name", "quote'n\"dq", "sp ace"};
  const std::vector<std::string> servers = {"<server/>", "<server path='/tmp/sock'/>", "<server path='/run/a,b c'/>"};
  const std::vector<std::string> msis = {"", "<msi/>", "<msi vectors='8'/>", "<msi ioeventfd='off'/>",
                                         "<msi vectors='0x20' ioeventfd='on'/>"};
  auto esc = [](const std::string& s) {
    std::string o;
    for (char c : s) o += c == '\'' ? std::string("&apos;") : c == '"' ? std::string("&quot;") : std::string(1, c);
    return o;
  };
  int n = 0;
  for (const auto& name : names)
    for (const auto& role : roles)
      for (const auto& address : addresses)
        for (const auto& alias : aliases) {
          std::string head = "<shmem name='" + esc(name) + "'" + role + ">";
          std::string tail = alias + address + "</shmem>";
          for (const auto& size : sizes) {
            out.push_back({head + "<model type='ivshmem-plain'/>" + size + tail, fmt::format("plain#{}", n++)});
            out.push_back({head + "<model type='ivshmem'/>" + size + tail, fmt::format("legacy#{}", n++)});
          }
          for (const auto& server : servers)
            for (const auto& msi : msis) {
              out.push_back({head + "<model type='ivshmem-doorbell'/>" + server + msi + tail, fmt::format("doorbell#{}", n++)});
              out.push_back({head + "<model type='ivshmem'/><size unit='M'>8</size>" + server + msi + tail,
                             fmt::format("legacy-server#{}", n++)});
            }
        }
  return out;
}

// What the reverse direction can know: the doorbell's name only from libvirt's default path.
ShmemDef expected_after_reverse(ShmemDef def) {
  if (def.server && def.server->path != default_server_path(def.name)) def.name = *def.alias;
  return def;
}

TEST(DomxmlRoundTrip, every_field_survives_xml_to_argv_to_xml) {
  auto variants = generate();
  ASSERT_GT(variants.size(), 1000u);
  size_t checked = 0;
  for (ArgFormat format : {ArgFormat::Json, ArgFormat::Keyval}) {
    for (const auto& v : variants) {
      SCOPED_TRACE(v.label + ": " + v.xml);
      Forward out = forward(domain_with(v.xml), format);
      ASSERT_EQ(out.error, "");
      auto back = reverse_text(join_lines(out.lines));
      ASSERT_TRUE(back) << back.error().message();
      ASSERT_EQ(back->domain.shmems.size(), 1u);
      EXPECT_EQ(back->domain.shmems[0], expected_after_reverse(out.domain.shmems[0]));

      // And the printed XML is a fixpoint: reading it again gives the same command line.
      Forward again = forward(format_devices_xml(back->domain.shmems), format);
      ASSERT_EQ(again.error, "");
      if (back->domain.shmems[0].name == out.domain.shmems[0].name) {
        EXPECT_EQ(again.lines, out.lines);
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 2 * variants.size());
}

TEST(DomxmlRoundTrip, a_whole_domain_round_trips_in_order) {
  std::string devices;
  for (int i = 0; i < 12; ++i) {
    switch (i % 3) {
      case 0: devices += fmt::format("<shmem name='p{}' role='master'><model type='ivshmem-plain'/><size unit='M'>{}</size></shmem>", i, 1 << i); break;
      case 1: devices += fmt::format("<shmem name='d{}'><model type='ivshmem-doorbell'/><server/><msi vectors='{}'/></shmem>", i, i); break;
      default: devices += fmt::format("<shmem name='l{}'><model type='ivshmem'/><server/></shmem>", i); break;
    }
  }
  for (ArgFormat format : {ArgFormat::Json, ArgFormat::Keyval}) {
    Forward out = forward(domain_with(devices), format);
    ASSERT_EQ(out.error, "");
    auto back = reverse_text(join_lines(out.lines));
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(back->domain.shmems, out.domain.shmems);
    EXPECT_TRUE(back->notes.empty());
  }
}

// Found by the domxml fuzz target: a name holding a newline (here from character references)
// was written raw, and a reader turns a raw newline in an attribute into a space.
TEST(DomxmlRoundTrip, whitespace_in_a_name_is_written_as_character_references) {
  auto parsed = parse_domain_xml("<devices><shmem name='a&#9;b&#10;c&#13;d'><model type='ivshmem-plain'/></shmem></devices>",
                                 "test.xml");
  ASSERT_TRUE(parsed) << parsed.error().message();
  ASSERT_EQ(parsed->shmems.size(), 1u);
  EXPECT_EQ(parsed->shmems[0].name, "a\tb\nc\rd");
  std::string printed = format_devices_xml(parsed->shmems);
  EXPECT_NE(printed.find("name='a&#9;b&#10;c&#13;d'"), std::string::npos) << printed;
  auto again = parse_domain_xml(printed, "printed.xml");
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->shmems, parsed->shmems);
}

}  // namespace
}  // namespace nahanni::domxml::testing
