// Serialization of remote-task arguments and results: cereal binary archives.
//
// What serializes: arithmetic types, enums, std::string, std::vector, std::map,
// std::unordered_map, std::set, std::optional, std::tuple, std::pair,
// std::array, std::variant, std::chrono durations (cereal's headers for them
// are included here), and any user type with a cereal `serialize` member:
//
//   struct Point {
//     double x, y;
//     template <class Archive> void serialize(Archive& ar) { ar(x, y); }
//   };
//
// A type that does not serialize is a compile-time error at the spawn that
// passes it (cereal's static_assert). Types are decoded into a
// default-constructed object, so argument and result types must be default
// constructible. Binary archives are little-endian and sized as on x86-64:
// every process of a job runs the same binary on the same architecture.
//
// encode/decode run for every task, also in local mode, so a program tested
// locally already exercises the path it takes in a cluster.
#pragma once

#include <cereal/archives/binary.hpp>
#include <cereal/types/array.hpp>
#include <cereal/types/chrono.hpp>
#include <cereal/types/deque.hpp>
#include <cereal/types/list.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/optional.hpp>
#include <cereal/types/set.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/tuple.hpp>
#include <cereal/types/unordered_map.hpp>
#include <cereal/types/unordered_set.hpp>
#include <cereal/types/utility.hpp>
#include <cereal/types/variant.hpp>
#include <cereal/types/vector.hpp>
#include <istream>
#include <ostream>
#include <stdexcept>
#include <streambuf>
#include <string>
#include <string_view>

namespace skein::detail {

// Appends everything written to a std::string (no intermediate buffer).
class StringSinkBuf : public std::streambuf {
 public:
  explicit StringSinkBuf(std::string& out) : out_(out) {}

 protected:
  int_type overflow(int_type c) override {
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      out_.push_back(traits_type::to_char_type(c));
    }
    return traits_type::not_eof(c);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    out_.append(s, static_cast<std::size_t>(n));
    return n;
  }

 private:
  std::string& out_;
};

// Reads from a borrowed byte range (the range must outlive the buffer).
class ViewSourceBuf : public std::streambuf {
 public:
  explicit ViewSourceBuf(std::string_view in) {
    char* p = const_cast<char*>(in.data());  // get area is never written
    setg(p, p, p + in.size());
  }
  std::size_t remaining() const { return static_cast<std::size_t>(egptr() - gptr()); }
};

// Thrown by decode when the bytes are not a complete archive of T.
class PayloadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <class... Ts>
std::string encode(const Ts&... values) {
  std::string out;
  {
    StringSinkBuf buf(out);
    std::ostream os(&buf);
    cereal::BinaryOutputArchive ar(os);
    if constexpr (sizeof...(Ts) > 0) {
      ar(values...);
    }
  }
  return out;
}

// Decodes bytes produced by encode<T>. Throws PayloadError on truncated,
// malformed or over-long input.
template <class T>
T decode(std::string_view bytes) {
  ViewSourceBuf buf(bytes);
  std::istream is(&buf);
  T value{};
  try {
    cereal::BinaryInputArchive ar(is);
    ar(value);
  } catch (const cereal::Exception& e) {
    throw PayloadError(std::string("cannot decode payload: ") + e.what());
  } catch (const std::length_error& e) {
    throw PayloadError(std::string("cannot decode payload: ") + e.what());
  } catch (const std::bad_alloc&) {
    throw PayloadError("cannot decode payload: size field out of range");
  }
  if (buf.remaining() != 0) {
    throw PayloadError("cannot decode payload: " + std::to_string(buf.remaining()) +
                       " trailing bytes");
  }
  return value;
}

}  // namespace skein::detail
