// The GPT-2 byte-level alphabet: every byte has a printable character standing for it
// (printable Latin-1 bytes stand for themselves, the rest map to U+0100..U+0143, so the space
// is "Ġ"). Shared by the ByteLevel pre-tokenizer, decoder and post-processor.
#pragma once

#include <cstdint>

#include "tokenizer/encoding.h"

namespace ember::tok {

char32_t byte_to_char(uint8_t b);
// The byte a character stands for, or -1 if it is not in the alphabet.
int char_to_byte(char32_t c);

// The library's trim_offsets (ByteLevel and RobertaProcessing post-processors): a token's
// offsets lose its leading and trailing spaces ("Ġ" or whitespace), except the single
// leading space that add_prefix_space put before the first word. Both byte and code point
// offsets move by the same count (the trimmed characters are one byte each), on `e` and on its
// overflowing pieces.
void trim_byte_level_offsets(Encoding& e, bool add_prefix_space);

}  // namespace ember::tok
