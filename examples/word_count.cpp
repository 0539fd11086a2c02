// word_count: counts the words of a generated corpus in parallel. The driver
// generates a deterministic text (a few thousand made-up words drawn with a
// Zipf-like skew), cuts it into shards at word boundaries, counts each shard
// in a remote task, merges the per-shard maps, and checks the result against
// a single-threaded count of the whole text.
// Usage: word_count [--words N] [--shards S]   (defaults 2000000, 64).
// Exits 1 if the merged counts differ from the single-threaded ones.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <skein/skein.hpp>
#include <skein/spawn.hpp>
#include "example_flags.hpp"

namespace {

using Counts = std::map<std::string, std::uint64_t>;

Counts count_text(std::string_view text) {
  std::unordered_map<std::string_view, std::uint64_t> counts;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\n')) {
      ++i;
    }
    const std::size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\n') {
      ++i;
    }
    if (i > start) {
      ++counts[text.substr(start, i - start)];
    }
  }
  return Counts(counts.begin(), counts.end());
}

// One remote task: the counts of one shard.
Counts count_words(const std::string& shard) { return count_text(shard); }
SKEIN_REMOTE(count_words);

// Deterministic corpus: word k of the vocabulary is built from syllables of
// k; draws favour low k (the minimum of two uniform draws, a mild skew).
std::string make_corpus(std::uint64_t words) {
  static constexpr const char* kSyllables[] = {"ka", "lo", "mi",  "ne",  "ru",  "sa",  "ti", "vo",
                                               "xe", "zu", "bra", "che", "dri", "flo", "gu", "ho"};
  constexpr std::uint64_t kVocabulary = 5000;
  std::vector<std::string> vocab;
  vocab.reserve(kVocabulary);
  for (std::uint64_t k = 0; k < kVocabulary; ++k) {
    std::string w;
    std::uint64_t v = k + 1;
    while (v > 0) {
      w += kSyllables[v % 16];
      v /= 16;
    }
    vocab.push_back(std::move(w));
  }
  std::uint64_t state = 0xC0FFEEull;
  auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  std::string text;
  text.reserve(words * 8);
  for (std::uint64_t i = 0; i < words; ++i) {
    const std::uint64_t a = next() % kVocabulary;
    const std::uint64_t b = next() % kVocabulary;
    text += vocab[a < b ? a : b];
    text += (i % 12 == 11) ? '\n' : ' ';
  }
  return text;
}

// Cuts text into about `shards` pieces, each ending at a word boundary.
std::vector<std::string> make_shards(const std::string& text, std::uint64_t shards) {
  std::vector<std::string> out;
  const std::size_t target = text.size() / shards + 1;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = std::min(text.size(), pos + target);
    while (end < text.size() && text[end] != ' ' && text[end] != '\n') {
      ++end;
    }
    out.push_back(text.substr(pos, end - pos));
    pos = end;
  }
  return out;
}

}  // namespace

using skein_examples::parse_flag;

int main(int argc, char** argv) {
  std::uint64_t words = 2'000'000;
  std::uint64_t shards = 64;
  for (int i = 1; i < argc; ++i) {
    if (!parse_flag(argc, argv, i, "--words", words) &&
        !parse_flag(argc, argv, i, "--shards", shards)) {
      std::fprintf(stderr, "usage: %s [--words N] [--shards S]\n", argv[0]);
      return 2;
    }
  }
  return skein::run(argc, argv, [words, shards]() -> int {
    const std::string text = make_corpus(words);
    const std::vector<std::string> pieces = make_shards(text, shards);

    const auto start = std::chrono::steady_clock::now();
    std::vector<skein::Future<Counts>> parts;
    parts.reserve(pieces.size());
    for (const std::string& piece : pieces) {
      parts.push_back(skein::spawn(SKEIN_FN(count_words), piece));
    }
    Counts merged;
    for (const Counts& part : skein::when_all(parts)) {
      for (const auto& [word, n] : part) {
        merged[word] += n;
      }
    }
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();

    const Counts reference = count_text(text);
    std::uint64_t total = 0;
    for (const auto& [word, n] : merged) {
      total += n;
    }
    const bool ok = merged == reference && total == words;
    std::printf(
        "word_count: %llu words, %zu distinct, %zu shards counted remotely in %.1f ms; "
        "%s the single-threaded count\n",
        static_cast<unsigned long long>(total), merged.size(), pieces.size(), ms,
        ok ? "matches" : "DIFFERS FROM");
    if (!merged.empty()) {
      auto top = merged.begin();
      for (auto it = merged.begin(); it != merged.end(); ++it) {
        if (it->second > top->second) {
          top = it;
        }
      }
      std::printf("word_count: most frequent \"%s\" x %llu\n", top->first.c_str(),
                  static_cast<unsigned long long>(top->second));
    }
    return ok ? 0 : 1;
  });
}
