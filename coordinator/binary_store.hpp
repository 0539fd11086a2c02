// BinaryStore: job binaries, content-addressed by SHA-256, in
// <data-dir>/binaries/<sha256>.
//
// An upload streams into <data-dir>/binaries/.partial/<random>.part while
// being hashed; commit() checks the byte count and the hash and only then
// renames the file to its content address (rename is atomic, so a reader
// never sees a partial binary). Any failure — wrong hash, wrong size, size
// cap, disk full, the client going away — deletes the partial file:
// destroying an uncommitted Upload removes it. Stray .part files from a
// crash are deleted when the store opens.
//
// Invariants: every file named <sha256> in the store has that SHA-256 and is
// read-only (0500); the store never overwrites or deletes a stored binary.
// Thread-safety: all methods are safe from any thread; an Upload is used by
// one thread at a time.
//
//   auto up = store.begin_upload(sha, size);   // validates sha/size/cap
//   (*up)->append(chunk) ...;                  // hashes as it writes
//   auto put = (*up)->commit();                // verifies, then publishes
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "skein/common/sha256.hpp"

namespace skein::coordinator {

struct PutResult {
  std::string sha256;
  uint64_t size = 0;
  bool already_stored = false;
};

class BinaryStore {
 public:
  class Upload {
   public:
    ~Upload();  // removes the partial file unless committed
    Upload(const Upload&) = delete;
    Upload& operator=(const Upload&) = delete;

    // INVALID_ARGUMENT if the data runs past the announced size,
    // RESOURCE_EXHAUSTED on ENOSPC/EDQUOT, INTERNAL on other I/O errors.
    // After an error the upload is dead: further calls fail.
    absl::Status append(std::string_view data);

    // INVALID_ARGUMENT on a size or hash mismatch (message: expected and
    // actual hash prefixes); the partial file is gone afterwards either way.
    absl::StatusOr<PutResult> commit();

    uint64_t received() const { return received_; }

   private:
    friend class BinaryStore;
    Upload(BinaryStore* store, std::string sha256, uint64_t size, std::string partial_path, int fd);
    void discard();

    BinaryStore* store_;
    std::string expected_sha256_;
    uint64_t expected_size_;
    std::string partial_path_;
    int fd_;  // -1 once closed
    uint64_t received_ = 0;
    Sha256 hasher_;
    bool done_ = false;  // committed or discarded
  };

  // Creates <data_dir>/binaries if needed and clears stray partial files.
  static absl::StatusOr<std::unique_ptr<BinaryStore>> open(const std::string& data_dir,
                                                           uint64_t max_binary_bytes);

  // INVALID_ARGUMENT for a malformed hash or zero size; RESOURCE_EXHAUSTED
  // above the size cap.
  absl::StatusOr<std::unique_ptr<Upload>> begin_upload(const std::string& sha256, uint64_t size);

  bool contains(const std::string& sha256) const;
  // NOT_FOUND if not stored, INVALID_ARGUMENT for a malformed hash.
  absl::StatusOr<uint64_t> size_of(const std::string& sha256) const;
  std::string path_of(const std::string& sha256) const;
  uint64_t max_binary_bytes() const { return max_binary_bytes_; }
  const std::string& dir() const { return dir_; }

 private:
  BinaryStore(std::string dir, uint64_t max_binary_bytes);

  std::string dir_;          // <data-dir>/binaries
  std::string partial_dir_;  // <data-dir>/binaries/.partial
  uint64_t max_binary_bytes_;
};

}  // namespace skein::coordinator
