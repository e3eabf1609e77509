// Encoding surgery shared by truncation and post-processing, with the library's semantics
// (including how overflowing pieces combine when two sequences are merged).
#pragma once

#include "tokenizer/encoding.h"
#include "tokenizer/tokenizer.h"

namespace ember::tok {

// Appends `other` to `self`. Overflowing pieces combine as in the library: each of self's
// pieces with other and with each of other's pieces, then self with each of other's pieces.
void merge_into(Encoding& self, const Encoding& other);
// The same, moving other's fields (its token strings) instead of copying them.
void merge_into(Encoding& self, Encoding&& other);

// Keeps the first (right) or last (left) max_len tokens; with `overflowing`, the rest become
// overflowing pieces of max_len tokens that overlap by `stride`, else they are dropped.
// Throws kInvalidInput if stride >= max_len (also without `overflowing`, as the library fails).
void truncate_encoding(Encoding& e, size_t max_len, size_t stride, TruncationDirection dir,
                       bool overflowing = true);

// The library's truncate_encodings for one or two sequences (max_length excludes specials);
// overflowing pieces only with params.return_overflowing.
void truncate_encodings(Encoding& a, Encoding* b, const Truncation& params);

void set_sequence_id(Encoding& e, int32_t id);  // also on its overflowing pieces

}  // namespace ember::tok
