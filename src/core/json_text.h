// JSON string literals from any bytes: what a client put in a path or a
// query may be invalid UTF-8, and an error message that echoes it must
// still be valid JSON (invalid sequences become U+FFFD).
#pragma once

#include <string>
#include <string_view>

namespace registryd {

// `text` as a JSON string literal, quotes included.
std::string JsonString(std::string_view text);

// {"error":{"code":<status>,"message":<message>}}: every HTTP error's body.
std::string JsonError(int status, std::string_view message);

}  // namespace registryd
