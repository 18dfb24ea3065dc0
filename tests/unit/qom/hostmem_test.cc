// memory-backend-ram/-file/-memfd through -object: required parameters, sharing, files created
// and removed, seals, and the in-use guard object-del honours.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstring>

#include "backends/hostmem.h"
#include "qom/type.h"
#include "qom/user-creatable.h"
#include "util/keyval.h"

namespace nahanni {
namespace {

Result<HostMemoryBackend*> add(std::string_view arg) {
  auto opts = parse_option_argument(arg, "qom-type");
  if (!opts) return opts.error();
  auto r = user_creatable_add(std::move(*opts), OptionSource::CommandLine);
  if (!r) return std::move(r).error();
  return dynamic_cast<HostMemoryBackend*>(*r);
}

std::string add_error(std::string_view arg) {
  auto r = add(arg);
  return r ? std::string("(ok)") : r.error().message();
}

bool exists(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0;
}

class HostMemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "nahanni-hostmem-" + std::to_string(::getpid());
    ::mkdir(dir_.c_str(), 0700);
  }
  void TearDown() override {
    std::vector<std::string> ids;
    for (auto& [name, child] : objects_container().children()) ids.push_back(name);
    for (auto& id : ids) (void)objects_container().remove_child(id);
    for (const char* f : {"/a", "/small", "/new", "/big"}) ::unlink((dir_ + f).c_str());
    ::rmdir(dir_.c_str());
  }
  std::string dir_;
};

TEST_F(HostMemTest, ram_private_by_default) {
  auto r = add("memory-backend-ram,id=m,size=1M");
  ASSERT_TRUE(r.ok()) << r.error().message();
  HostMemoryBackend* b = *r;
  EXPECT_EQ(b->size(), 1u << 20);
  EXPECT_FALSE(b->shared());
  EXPECT_EQ(b->fd(), -1);
  ASSERT_NE(b->host(), nullptr);
  b->host()[0] = 0x5a;
  b->host()[(1 << 20) - 1] = 0xa5;
  EXPECT_EQ(b->host()[0], 0x5a);
  EXPECT_FALSE(b->in_use());
  EXPECT_EQ(b->path(), "/objects/m");
}

TEST_F(HostMemTest, ram_with_share_on_has_an_fd_of_the_right_size) {
  auto r = add("memory-backend-ram,id=m,size=2M,share=on");
  ASSERT_TRUE(r.ok()) << r.error().message();
  HostMemoryBackend* b = *r;
  EXPECT_TRUE(b->shared());
  ASSERT_GE(b->fd(), 0);
  struct stat st{};
  ASSERT_EQ(::fstat(b->fd(), &st), 0);
  EXPECT_EQ(st.st_size, 2 << 20);
  // The mapping and the fd are the same memory.
  b->host()[4096] = 0x42;
  uint8_t byte = 0;
  ASSERT_EQ(::pread(b->fd(), &byte, 1, 4096), 1);
  EXPECT_EQ(byte, 0x42);
  EXPECT_NE(::fcntl(b->fd(), F_GETFD) & FD_CLOEXEC, 0);
}

TEST_F(HostMemTest, size_is_required) {
  EXPECT_EQ(add_error("memory-backend-ram,id=m"), "Parameter 'size' is missing");
  EXPECT_EQ(add_error("memory-backend-memfd,id=m"), "Parameter 'size' is missing");
  EXPECT_EQ(find_user_object("m"), nullptr);
}

TEST_F(HostMemTest, id_is_checked_before_size) {
  EXPECT_EQ(add_error("memory-backend-ram"), "Parameter 'id' is missing");
}

TEST_F(HostMemTest, size_zero_is_refused_as_qemu_does) {
  EXPECT_EQ(add_error("memory-backend-ram,id=m,size=0"), "property 'size' of memory-backend-ram doesn't take value '0'");
  EXPECT_EQ(add_error("memory-backend-memfd,id=m,size=0"),
            "property 'size' of memory-backend-memfd doesn't take value '0'");
  EXPECT_EQ(find_user_object("m"), nullptr);
}

TEST_F(HostMemTest, bad_size_value) {
  EXPECT_EQ(add_error("memory-backend-ram,id=m,size=1Q"), "Parameter 'size' expects a size value");
}

TEST_F(HostMemTest, unknown_parameter_is_reported_after_the_known_ones) {
  EXPECT_EQ(add_error("memory-backend-ram,id=m,size=1M,foo=1"), "Invalid parameter 'foo'");
  EXPECT_EQ(add_error("memory-backend-ram,id=m,foo=1,size=1Q"), "Parameter 'size' expects a size value");
  // Required members come first: QEMU says "size is missing" even with an unknown key.
  EXPECT_EQ(add_error("memory-backend-ram,id=m,foo=1"), "Parameter 'size' is missing");
  // And before complete(): size=0 with an unknown key reports the key.
  EXPECT_EQ(add_error("memory-backend-ram,id=m,foo=1,size=0"), "Invalid parameter 'foo'");
}

TEST_F(HostMemTest, bad_share_value) {
  EXPECT_EQ(add_error("memory-backend-ram,id=m,size=1M,share=maybe"), "Parameter 'share' expects 'on' or 'off'");
}

TEST_F(HostMemTest, huge_ram_fails_with_qemus_message) {
  EXPECT_EQ(add_error("memory-backend-ram,id=m,size=200T"), "cannot set up guest memory 'm': Cannot allocate memory");
  EXPECT_EQ(find_user_object("m"), nullptr);
}

TEST_F(HostMemTest, memfd_is_shared_and_sealed_by_default) {
  auto r = add("memory-backend-memfd,id=m,size=1M");
  ASSERT_TRUE(r.ok()) << r.error().message();
  HostMemoryBackend* b = *r;
  EXPECT_TRUE(b->shared());
  ASSERT_GE(b->fd(), 0);
  int seals = ::fcntl(b->fd(), F_GET_SEALS);
  EXPECT_EQ(seals, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
  EXPECT_NE(::ftruncate(b->fd(), 2 << 20), 0);
  b->host()[10] = 7;
  uint8_t byte = 0;
  ASSERT_EQ(::pread(b->fd(), &byte, 1, 10), 1);
  EXPECT_EQ(byte, 7);
}

TEST_F(HostMemTest, memfd_seal_off_leaves_it_resizable) {
  auto r = add("memory-backend-memfd,id=m,size=1M,seal=off");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(::fcntl((*r)->fd(), F_GET_SEALS), F_SEAL_SEAL);  // created without MFD_ALLOW_SEALING
}

TEST_F(HostMemTest, memfd_share_off_is_private) {
  auto r = add("memory-backend-memfd,id=m,size=1M,share=off");
  ASSERT_TRUE(r.ok()) << r.error().message();
  HostMemoryBackend* b = *r;
  EXPECT_FALSE(b->shared());
  b->host()[0] = 9;
  uint8_t byte = 1;
  ASSERT_EQ(::pread(b->fd(), &byte, 1, 0), 1);
  EXPECT_EQ(byte, 0);  // MAP_PRIVATE: the fd does not see the write
}

TEST_F(HostMemTest, memfd_hugetlbsize_must_be_a_power_of_2) {
  EXPECT_EQ(add_error("memory-backend-memfd,id=m,size=1M,hugetlb=on,hugetlbsize=3M"),
            "Hugepage size must be a power of 2");
  EXPECT_EQ(add_error("memory-backend-memfd,id=m,size=1M,hugetlbsize=3M"), "Hugepage size must be a power of 2");
}

TEST_F(HostMemTest, file_needs_mem_path_after_size) {
  EXPECT_EQ(add_error("memory-backend-file,id=m"), "Parameter 'size' is missing");
  EXPECT_EQ(add_error("memory-backend-file,id=m,size=1M"), "Parameter 'mem-path' is missing");
  EXPECT_EQ(add_error("memory-backend-file,id=m,size=0"), "Parameter 'mem-path' is missing");
  EXPECT_EQ(add_error("memory-backend-file,size=1M"), "Parameter 'id' is missing");
}

TEST_F(HostMemTest, file_is_created_with_the_size_and_shared) {
  std::string path = dir_ + "/a";
  auto r = add("memory-backend-file,id=m,size=1M,share=on,mem-path=" + path);
  ASSERT_TRUE(r.ok()) << r.error().message();
  HostMemoryBackend* b = *r;
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 1 << 20);
  b->host()[100] = 0x77;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  uint8_t byte = 0;
  ASSERT_EQ(::pread(fd, &byte, 1, 100), 1);
  ::close(fd);
  EXPECT_EQ(byte, 0x77);
  // Deleting the object keeps the file (it is the user's).
  ASSERT_TRUE(user_creatable_del("m").ok());
  EXPECT_TRUE(exists(path));
}

TEST_F(HostMemTest, file_in_a_directory_is_an_unlinked_temporary) {
  auto r = add("memory-backend-file,id=m,size=1M,mem-path=" + dir_);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_GE((*r)->fd(), 0);
  // A directory gets an unlinked temporary file: nothing is left in it.
  EXPECT_EQ(::rmdir(dir_.c_str()), 0);
  ::mkdir(dir_.c_str(), 0700);
}

TEST_F(HostMemTest, existing_file_smaller_than_size_is_refused_and_kept) {
  std::string path = dir_ + "/small";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_EQ(::ftruncate(fd, 1 << 20), 0);
  ::close(fd);
  EXPECT_EQ(add_error("memory-backend-file,id=m,size=4M,share=on,mem-path=" + path),
            "backing store size 0x100000 does not match 'size' option 0x400000");
  EXPECT_EQ(add_error("memory-backend-file,id=m,size=4M,readonly=on,mem-path=" + path),
            "backing store size 0x100000 does not match 'size' option 0x400000");
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 1 << 20);
}

TEST_F(HostMemTest, existing_larger_file_is_used_as_is) {
  std::string path = dir_ + "/small";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_EQ(::ftruncate(fd, 4 << 20), 0);
  ASSERT_EQ(::pwrite(fd, "hi", 2, 0), 2);
  ::close(fd);
  auto r = add("memory-backend-file,id=m,size=1M,share=on,mem-path=" + path);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(std::memcmp((*r)->host(), "hi", 2), 0);
}

TEST_F(HostMemTest, readonly_file_maps_read_only) {
  std::string path = dir_ + "/small";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_EQ(::ftruncate(fd, 1 << 20), 0);
  ASSERT_EQ(::pwrite(fd, "ro", 2, 0), 2);
  ::close(fd);
  auto r = add("memory-backend-file,id=m,size=1M,share=on,readonly=on,mem-path=" + path);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(std::memcmp((*r)->host(), "ro", 2), 0);
  EXPECT_EQ(::fcntl((*r)->fd(), F_GETFL) & O_ACCMODE, O_RDONLY);
}

TEST_F(HostMemTest, unopenable_path_names_the_store_and_errno) {
  EXPECT_EQ(add_error("memory-backend-file,id=m,size=1M,mem-path=/nonexist/x"),
            "can't open backing store /nonexist/x for guest RAM: No such file or directory");
}

TEST_F(HostMemTest, file_created_by_a_failed_backend_is_removed) {
  std::string path = dir_ + "/big";
  // 64 TiB: larger than ext4 or tmpfs files may grow, so setting it up fails after creation.
  auto r = add("memory-backend-file,id=m,size=64T,mem-path=" + path);
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(exists(path)) << r.error().message();
  EXPECT_EQ(find_user_object("m"), nullptr);
}

TEST_F(HostMemTest, backend_in_use_cannot_be_deleted) {
  auto r = add("memory-backend-ram,id=m1,size=1M");
  ASSERT_TRUE(r.ok());
  (*r)->set_in_use(true);
  EXPECT_FALSE((*r)->can_be_deleted());
  Status st = user_creatable_del("m1");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message(), "object 'm1' is in use, can not be deleted");
  (*r)->set_in_use(false);
  EXPECT_TRUE(user_creatable_del("m1").ok());
  EXPECT_EQ(find_user_object("m1"), nullptr);
}

TEST_F(HostMemTest, properties_read_back) {
  auto r = add("memory-backend-memfd,id=m,size=1M");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*(*r)->get_property("size"), 1048576u);
  EXPECT_EQ(*(*r)->get_property("share"), true);
  EXPECT_EQ(*(*r)->get_property("seal"), true);
  EXPECT_EQ(*(*r)->get_property("type"), "memory-backend-memfd");
}

// -object TYPE,help prints these lines exactly as QEMU 7.2 does (QEMU has a few more properties).
TEST(HostMemHelp, ram_help_lines_are_qemus) {
  EXPECT_EQ(format_property_help("memory-backend-ram", "memory-backend-ram options"),
            "memory-backend-ram options:\n"
            "  dump=<bool>            - Set to 'off' to exclude from core dump\n"
            "  merge=<bool>           - Mark memory as mergeable\n"
            "  prealloc=<bool>        - Preallocate memory\n"
            "  reserve=<bool>         - Reserve swap space (or huge pages) if applicable\n"
            "  share=<bool>           - Mark the memory as private to QEMU or shared\n"
            "  size=<int>             - Size of the memory region (ex: 500M)\n");
}

TEST(HostMemHelp, memfd_help_lines_are_qemus) {
  EXPECT_EQ(format_property_help("memory-backend-memfd", "memory-backend-memfd options"),
            "memory-backend-memfd options:\n"
            "  dump=<bool>            - Set to 'off' to exclude from core dump\n"
            "  hugetlb=<bool>         - Use huge pages\n"
            "  hugetlbsize=<int>      - Huge pages size (ex: 2M, 1G)\n"
            "  merge=<bool>           - Mark memory as mergeable\n"
            "  prealloc=<bool>        - Preallocate memory\n"
            "  reserve=<bool>         - Reserve swap space (or huge pages) if applicable\n"
            "  seal=<bool>            - Seal growing & shrinking\n"
            "  share=<bool>           - Mark the memory as private to QEMU or shared\n"
            "  size=<int>             - Size of the memory region (ex: 500M)\n");
}

TEST(HostMemHelp, file_help_lines_are_qemus) {
  EXPECT_EQ(format_property_help("memory-backend-file", "memory-backend-file options"),
            "memory-backend-file options:\n"
            "  align=<int>\n"
            "  discard-data=<bool>\n"
            "  dump=<bool>            - Set to 'off' to exclude from core dump\n"
            "  mem-path=<string>\n"
            "  merge=<bool>           - Mark memory as mergeable\n"
            "  pmem=<bool>\n"
            "  prealloc=<bool>        - Preallocate memory\n"
            "  readonly=<bool>\n"
            "  reserve=<bool>         - Reserve swap space (or huge pages) if applicable\n"
            "  share=<bool>           - Mark the memory as private to QEMU or shared\n"
            "  size=<int>             - Size of the memory region (ex: 500M)\n");
}

}  // namespace
}  // namespace nahanni
