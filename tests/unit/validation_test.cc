#include "core/validation.h"

#include <initializer_list>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "core/limits.h"

namespace registryd {
namespace {

// INVALID_ARGUMENT whose message contains every fragment (the field, the bound).
::testing::AssertionResult InvalidMentioning(const absl::Status& status,
                                             std::initializer_list<std::string_view> fragments) {
  if (status.code() != absl::StatusCode::kInvalidArgument) {
    return ::testing::AssertionFailure() << "expected INVALID_ARGUMENT, got " << status;
  }
  const std::string message(status.message());
  for (const std::string_view fragment : fragments) {
    if (message.find(fragment) == std::string::npos) {
      return ::testing::AssertionFailure() << "message \"" << message << "\" lacks \"" << fragment << "\"";
    }
  }
  return ::testing::AssertionSuccess();
}

template <typename T>
::testing::AssertionResult InvalidMentioning(const absl::StatusOr<T>& result,
                                             std::initializer_list<std::string_view> fragments) {
  return InvalidMentioning(result.status(), fragments);
}

TEST(Utf8Test, ServiceNamesMustBeValidUtf8) {
  for (const char* valid : {"caf\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac", "\xf0\x9f\x9a\x80"}) {
    EXPECT_TRUE(ValidateService("service", valid).ok()) << valid;
  }
  for (const char* invalid : {"\xff", "a\xc3", "\xc0\x80", "\xe0\x80\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                              "\x80"}) {
    const absl::Status status = ValidateService("service", invalid);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(status.message(), "service: must be valid UTF-8");
  }
}

TEST(Utf8Test, MetadataKeysAndValuesMustBeValidUtf8) {
  EXPECT_TRUE(ValidateMetadata("metadata", {{"zone", "\xc3\xa9"}}).ok());
  EXPECT_EQ(ValidateMetadata("metadata", {{"zone", "\xff"}}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateMetadata("metadata", {{"\xff", "v"}}).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ValidateServiceTest, AcceptsOneTo255Bytes) {
  EXPECT_TRUE(ValidateService("service", "b").ok());
  EXPECT_TRUE(ValidateService("service", std::string(limits::kMaxServiceBytes, 's')).ok());
}

TEST(ValidateServiceTest, RejectsEmptyOrTooLongNamingFieldAndBound) {
  EXPECT_TRUE(InvalidMentioning(ValidateService("service", ""), {"service", "1..255", "got 0"}));
  EXPECT_TRUE(InvalidMentioning(ValidateService("service", std::string(256, 's')), {"service", "1..255", "got 256"}));
}

TEST(ValidateServiceTest, RejectsControlCharacters) {
  EXPECT_TRUE(InvalidMentioning(ValidateService("service", "bo\nks"), {"service", "control"}));
  EXPECT_TRUE(InvalidMentioning(ValidateService("service", "bo\x7fks"), {"service", "control"}));
}

TEST(ValidateInstanceIdTest, AcceptsEmptyUpTo128Bytes) {
  EXPECT_TRUE(ValidateInstanceId("instance_id", "").ok());
  EXPECT_TRUE(ValidateInstanceId("instance_id", std::string(limits::kMaxInstanceIdBytes, 'i')).ok());
}

TEST(ValidateInstanceIdTest, RejectsTooLongNamingFieldAndBound) {
  EXPECT_TRUE(InvalidMentioning(ValidateInstanceId("instance_id", std::string(129, 'i')),
                                {"instance_id", "128", "got 129"}));
  EXPECT_TRUE(InvalidMentioning(ValidateInstanceId("instance_id", "a\tb"), {"instance_id", "control"}));
}

TEST(ValidateHostTest, AcceptsIpLiteralsAndHostNames) {
  for (const char* host : {"10.0.0.1", "255.255.255.255", "::1", "fe80::1", "2001:db8::8a2e:370:7334",
                           "::ffff:10.0.0.1", "localhost", "books.example.com", "books.example.com.",
                           "data_server-1.internal", "a1"}) {
    EXPECT_TRUE(ValidateHost("serverIp", host).ok()) << host;
  }
  EXPECT_TRUE(ValidateHost("serverIp", std::string(63, 'a') + ".example.com").ok()) << "63-byte label";
}

TEST(ValidateHostTest, RejectsEmptyNamingTheField) {
  EXPECT_TRUE(InvalidMentioning(ValidateHost("serverIp", ""), {"serverIp", "empty"}));
}

TEST(ValidateHostTest, RejectsTooLongNamingTheBound) {
  std::string host;
  while (host.size() < 254) host += "abcdefghi.";
  host.resize(254);
  EXPECT_TRUE(InvalidMentioning(ValidateHost("serverIp", host), {"serverIp", "253", "got 254"}));
}

TEST(ValidateHostTest, RejectsWhatIsNeitherAnAddressNorAHostName) {
  for (const char* host : {"bad host", "-books.example.com", "books-.example.com", "books..example.com", ".",
                           "[::1]", "10.0.0.1:80", "books/a", "b\xc3\xbc" "cher.de", "1::2::3", "256.1.1.1",
                           "10.0.0", "10.0.0.1.2"}) {
    EXPECT_TRUE(InvalidMentioning(ValidateHost("serverIp", host), {"serverIp", "IPv4", "IPv6", "host name"}))
        << host;
  }
  EXPECT_FALSE(ValidateHost("serverIp", std::string(64, 'a') + ".example.com").ok()) << "label over 63 bytes";
}

TEST(ValidatePortTest, AcceptsOneTo65535) {
  EXPECT_TRUE(ValidatePort("serverPort", 1).ok());
  EXPECT_TRUE(ValidatePort("serverPort", 50051).ok());
  EXPECT_TRUE(ValidatePort("serverPort", 65535).ok());
}

TEST(ValidatePortTest, RejectsOutOfRangeNamingFieldAndBound) {
  EXPECT_TRUE(InvalidMentioning(ValidatePort("serverPort", 0), {"serverPort", "1..65535", "got 0"}));
  EXPECT_TRUE(InvalidMentioning(ValidatePort("serverPort", 65536), {"serverPort", "1..65535", "got 65536"}));
  EXPECT_TRUE(InvalidMentioning(ValidatePort("serverPort", -1), {"serverPort", "got -1"}));
}

TEST(ParseAddressTest, ParsesHostNameIpv4AndBracketedIpv6) {
  struct Case {
    const char* address;
    const char* host;
    uint16_t port;
  };
  for (const Case& c : {Case{"books.example.com:8080", "books.example.com", 8080},
                        Case{"10.0.0.1:1", "10.0.0.1", 1},
                        Case{"localhost:65535", "localhost", 65535},
                        Case{"[::1]:80", "::1", 80},
                        Case{"[2001:db8::1]:50051", "2001:db8::1", 50051}}) {
    const absl::StatusOr<HostPort> parsed = ParseAddress("address", c.address);
    ASSERT_TRUE(parsed.ok()) << c.address << ": " << parsed.status();
    EXPECT_EQ(parsed->host, c.host);
    EXPECT_EQ(parsed->port, c.port);
  }
}

TEST(ParseAddressTest, RejectsMalformedAddressesNamingTheField) {
  for (const char* address : {"books", "", "::1:80", "2001:db8::1", "[::1]", "[::1]80", "[::1:80"}) {
    EXPECT_TRUE(InvalidMentioning(ParseAddress("address", address), {"address", "host:port", "[address]:port"}))
        << address;
  }
}

TEST(ParseAddressTest, RejectsBadHostsAndPortsNamingTheBound) {
  EXPECT_TRUE(InvalidMentioning(ParseAddress("address", ":80"), {"address", "empty"}));
  EXPECT_TRUE(InvalidMentioning(ParseAddress("address", "[]:80"), {"address", "empty"}));
  EXPECT_TRUE(InvalidMentioning(ParseAddress("address", "bad host:80"), {"address", "host name"}));
  EXPECT_TRUE(InvalidMentioning(ParseAddress("address", "books:0"), {"address", "1..65535", "got 0"}));
  EXPECT_TRUE(InvalidMentioning(ParseAddress("address", "books:65536"), {"address", "1..65535", "got 65536"}));
  for (const char* address : {"books:", "[::1]:", "books:http", "books:80x", "books:+80", "books: 80"}) {
    EXPECT_TRUE(InvalidMentioning(ParseAddress("address", address), {"address", "port", "1..65535"})) << address;
  }
}

Metadata Entries(size_t count) {
  Metadata metadata;
  for (size_t i = 0; i < count; ++i) metadata.emplace_back("key" + std::to_string(100 + i), "v");
  return metadata;
}

TEST(ValidateMetadataTest, AcceptsUpToTheBounds) {
  EXPECT_TRUE(ValidateMetadata("metadata", {}).ok());
  EXPECT_TRUE(ValidateMetadata("metadata", Entries(limits::kMaxMetadataEntries)).ok());
  EXPECT_TRUE(ValidateMetadata("metadata", {{std::string(63, 'k'), "v"}}).ok());
  EXPECT_TRUE(ValidateMetadata("metadata", {{"k", std::string(4095, 'v')}}).ok());
  EXPECT_TRUE(ValidateMetadata("metadata", {{"k", ""}}).ok());
}

TEST(ValidateMetadataTest, RejectsTooManyEntries) {
  EXPECT_TRUE(InvalidMentioning(ValidateMetadata("metadata", Entries(33)), {"metadata", "32", "got 33"}));
}

TEST(ValidateMetadataTest, RejectsEmptyOrLongKeys) {
  EXPECT_TRUE(InvalidMentioning(ValidateMetadata("metadata", {{"", "v"}}), {"metadata", "1..63", "got 0"}));
  EXPECT_TRUE(InvalidMentioning(ValidateMetadata("metadata", {{std::string(64, 'k'), "v"}}),
                                {"metadata", "1..63", "got 64"}));
  EXPECT_TRUE(InvalidMentioning(ValidateMetadata("metadata", {{"a\nb", "v"}}), {"metadata", "control"}));
}

TEST(ValidateMetadataTest, RejectsTooManyBytesInAll) {
  EXPECT_TRUE(InvalidMentioning(ValidateMetadata("metadata", {{"k", std::string(4096, 'v')}}),
                                {"metadata", "4096", "got 4097"}));
  // Each entry is small; together they pass the bound.
  Metadata metadata;
  for (int i = 0; i < 3; ++i) metadata.emplace_back("key" + std::to_string(i), std::string(1400, 'v'));
  EXPECT_TRUE(InvalidMentioning(ValidateMetadata("metadata", metadata), {"metadata", "4096", "got 4212"}));
}

}  // namespace
}  // namespace registryd
