// The one exception type of the host: every bad input throws it with a message that names the fix.
#pragma once

#include <stdexcept>
#include <string>

namespace fastip {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace fastip
