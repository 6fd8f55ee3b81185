// ReadPlainQuestion: the queries the DNS face answers from its cache without
// ldns, and every other one left to ldns.
#include "dns/plain_question.h"

#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

namespace registryd::dns {
namespace {

using Bytes = std::vector<uint8_t>;

// id 0x1234, RD, one question, `additional` records.
Bytes Header(uint8_t additional = 0) { return {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, additional}; }

void Append(Bytes& to, const Bytes& bytes) { to.insert(to.end(), bytes.begin(), bytes.end()); }

// "Orders.SERVICE.registryd." SRV IN, as the wire has it.
Bytes Question() {
  Bytes bytes = {6, 'O', 'r', 'd', 'e', 'r', 's', 7, 'S', 'E', 'R', 'V', 'I', 'C', 'E'};
  Append(bytes, {9, 'r', 'e', 'g', 'i', 's', 't', 'r', 'y', 'd', 0, 0, 33, 0, 1});
  return bytes;
}

// An OPT record: UDP size 1232, DO clear, then `options`.
Bytes Opt(const Bytes& options = {}) {
  Bytes bytes = {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, static_cast<uint8_t>(options.size())};
  Append(bytes, options);
  return bytes;
}

Bytes Query(const Bytes& header, const Bytes& question, const Bytes& after = {}) {
  Bytes bytes = header;
  Append(bytes, question);
  Append(bytes, after);
  return bytes;
}

TEST(PlainQuestion, ReadsTheNameLoweredTheTypeAndClass) {
  const std::optional<PlainQuestion> read = ReadPlainQuestion(Query(Header(), Question()));
  ASSERT_TRUE(read);
  EXPECT_EQ(read->name, "orders.service.registryd.");
  EXPECT_EQ(read->type, 33);
  EXPECT_EQ(read->qclass, 1);
  EXPECT_FALSE(read->edns);
}

TEST(PlainQuestion, ReadsTheOptRecordAndSkipsItsOptions) {
  const std::optional<PlainQuestion> bare = ReadPlainQuestion(Query(Header(1), Question(), Opt()));
  ASSERT_TRUE(bare);
  EXPECT_TRUE(bare->edns);
  EXPECT_EQ(bare->edns_udp_size, 1232);
  // dig's cookie: option 10, 8 bytes.
  const Bytes cookie = {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
  const std::optional<PlainQuestion> with_cookie = ReadPlainQuestion(Query(Header(1), Question(), Opt(cookie)));
  ASSERT_TRUE(with_cookie);
  EXPECT_TRUE(with_cookie->edns);
  EXPECT_EQ(with_cookie->name, "orders.service.registryd.");
}

TEST(PlainQuestion, LeavesEverythingElseToLdns) {
  const Bytes question = Question();
  Bytes response = Header();
  response[2] |= 0x80;
  Bytes notify = Header();
  notify[2] |= 4 << 3;  // opcode NOTIFY
  Bytes two_questions = Header();
  two_questions[5] = 2;
  Bytes with_answer = Header();
  with_answer[7] = 1;
  Bytes with_authority = Header();
  with_authority[9] = 1;
  const Bytes pointer = {0xc0, 0x0c, 0, 33, 0, 1};
  const Bytes escaped = {3, 'a', '.', 'b', 0, 0, 1, 0, 1};
  const Bytes root = {0, 0, 6, 0, 1};
  Bytes cut = question;
  cut.pop_back();
  const Bytes label_cut = {6, 'o', 'r'};
  Bytes long_name;
  for (int i = 0; i < 5; ++i) {
    long_name.push_back(63);
    long_name.insert(long_name.end(), 63, 'a');
  }
  Append(long_name, {0, 0, 1, 0, 1});
  const Bytes bad_option = {0, 10, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8};  // says 9, has 8
  Bytes opt_cut = Opt();
  opt_cut.pop_back();
  Bytes opt_not_root = Opt();
  opt_not_root[0] = 1;
  for (const auto& [what, query] : std::vector<std::pair<const char*, Bytes>>{
           {"a response", Query(response, question)},
           {"not a QUERY", Query(notify, question)},
           {"two questions", Query(two_questions, question)},
           {"an answer record", Query(with_answer, question)},
           {"an authority record", Query(with_authority, question)},
           {"a compressed name", Query(Header(), pointer)},
           {"a label with a dot", Query(Header(), escaped)},
           {"the root", Query(Header(), root)},
           {"cut short", Query(Header(), cut)},
           {"a label cut short", Query(Header(), label_cut)},
           {"a name over 255 bytes", Query(Header(), long_name)},
           {"trailing bytes", Query(Header(), question, {0})},
           {"an OPT that is not all there", Query(Header(1), question, opt_cut)},
           {"an option longer than its OPT", Query(Header(1), question, Opt(bad_option))},
           {"an OPT not at the root", Query(Header(1), question, opt_not_root)},
           {"an additional record that is no OPT", Query(Header(1), question, question)},
           {"no header", Bytes{0x12, 0x34, 0x01}},
       }) {
    EXPECT_FALSE(ReadPlainQuestion(query)) << what;
  }
}

}  // namespace
}  // namespace registryd::dns
