#include "tokenizer/encoding_ops.h"

#include <algorithm>

#include "core/error.h"

namespace ember::tok {
namespace {

void append_fields(Encoding& self, const Encoding& o) {
  auto app = [](auto& dst, const auto& src) { dst.insert(dst.end(), src.begin(), src.end()); };
  app(self.ids, o.ids);
  app(self.type_ids, o.type_ids);
  app(self.tokens, o.tokens);
  app(self.special_tokens_mask, o.special_tokens_mask);
  app(self.offsets, o.offsets);
  app(self.char_offsets, o.char_offsets);
  app(self.sequence_ids, o.sequence_ids);
  app(self.word_ids, o.word_ids);
}

Encoding range_of(const Encoding& e, size_t b, size_t s) {
  Encoding r;
  auto cut = [b, s](auto& dst, const auto& src) { dst.assign(src.begin() + b, src.begin() + s); };
  cut(r.ids, e.ids);
  cut(r.type_ids, e.type_ids);
  cut(r.tokens, e.tokens);
  cut(r.special_tokens_mask, e.special_tokens_mask);
  cut(r.offsets, e.offsets);
  cut(r.char_offsets, e.char_offsets);
  cut(r.sequence_ids, e.sequence_ids);
  cut(r.word_ids, e.word_ids);
  return r;
}

}  // namespace

void merge_into(Encoding& self, Encoding&& other) {
  if (!self.overflowing.empty() || !other.overflowing.empty()) return merge_into(self, other);
  auto app = [](auto& dst, auto& src) {
    dst.insert(dst.end(), std::make_move_iterator(src.begin()), std::make_move_iterator(src.end()));
  };
  app(self.ids, other.ids);
  app(self.type_ids, other.type_ids);
  app(self.tokens, other.tokens);
  app(self.special_tokens_mask, other.special_tokens_mask);
  app(self.offsets, other.offsets);
  app(self.char_offsets, other.char_offsets);
  app(self.sequence_ids, other.sequence_ids);
  app(self.word_ids, other.word_ids);
}

void merge_into(Encoding& self, const Encoding& other) {
  std::vector<Encoding> overflowing;
  for (const Encoding& self_o : self.overflowing) {
    Encoding n = self_o;
    merge_into(n, other);
    overflowing.push_back(std::move(n));
    for (const Encoding& other_o : other.overflowing) {
      Encoding m = self_o;
      merge_into(m, other_o);
      overflowing.push_back(std::move(m));
    }
  }
  for (const Encoding& other_o : other.overflowing) {
    Encoding n = self;  // with its own overflowing, as the library clones it
    merge_into(n, other_o);
    overflowing.push_back(std::move(n));
  }
  append_fields(self, other);
  self.overflowing = std::move(overflowing);
}

void truncate_encoding(Encoding& e, size_t max_len, size_t stride, TruncationDirection dir,
                       bool overflowing) {
  const size_t len = e.ids.size();
  if (max_len >= len) return;
  if (max_len == 0) {
    Encoding all = std::move(e);
    e = Encoding{};
    if (overflowing) e.overflowing.push_back(std::move(all));
    return;
  }
  EMBER_CHECK(stride < max_len, ErrorKind::kInvalidInput, "truncation stride ", stride,
              " must be less than the room left for the sequence (", max_len, " tokens)");
  // The kept window: the first max_len tokens (right) or the last (left).
  const bool right = dir == TruncationDirection::kRight;
  Encoding head = right ? range_of(e, 0, max_len) : range_of(e, len - max_len, len);
  if (overflowing) {
    // The library's windows after the kept one: starts step by max_len - stride from the kept
    // end (right), or ends step back from it (left), until one reaches the other end.
    const size_t step = max_len - stride;
    if (right) {
      for (size_t start = step; start < len; start += step) {
        const size_t stop = std::min(start + max_len, len);
        head.overflowing.push_back(range_of(e, start, stop));
        if (stop == len) break;
      }
    } else {
      for (size_t stop = len - std::min(step, len); stop > 0; stop -= std::min(step, stop)) {
        const size_t start = stop > max_len ? stop - max_len : 0;
        head.overflowing.push_back(range_of(e, start, stop));
        if (start == 0) break;
      }
    }
  }
  e = std::move(head);
}

void truncate_encodings(Encoding& a, Encoding* b, const Truncation& p) {
  const bool over = p.return_overflowing;
  if (p.max_length == 0) {
    truncate_encoding(a, 0, p.stride, p.direction, over);
    if (b) truncate_encoding(*b, 0, p.stride, p.direction, over);
    return;
  }
  const size_t total = a.ids.size() + (b ? b->ids.size() : 0);
  if (total <= p.max_length) return;
  const size_t to_remove = total - p.max_length;
  if (p.strategy == TruncationStrategy::kLongestFirst) {
    if (!b) return truncate_encoding(a, total - to_remove, p.stride, p.direction, over);
    size_t n1 = a.ids.size();
    size_t n2 = b->ids.size();
    const bool swap = n1 > n2;
    if (swap) std::swap(n1, n2);
    n2 = n1 > p.max_length ? n1 : std::max(n1, p.max_length - n1);
    if (n1 + n2 > p.max_length) {
      n1 = p.max_length / 2;
      n2 = n1 + p.max_length % 2;
    }
    if (swap) std::swap(n1, n2);
    truncate_encoding(a, n1, p.stride, p.direction, over);
    truncate_encoding(*b, n2, p.stride, p.direction, over);
    return;
  }
  Encoding* target = &a;
  if (p.strategy == TruncationStrategy::kOnlySecond) {
    EMBER_CHECK(b != nullptr, ErrorKind::kInvalidInput,
                "truncation only_second needs a second sequence");
    target = b;
  }
  const size_t n = target->ids.size();
  EMBER_CHECK(n > to_remove, ErrorKind::kInvalidInput,
              "sequence to truncate is too short to respect max_length ", p.max_length);
  truncate_encoding(*target, n - to_remove, p.stride, p.direction, over);
}

void set_sequence_id(Encoding& e, int32_t id) {
  std::fill(e.sequence_ids.begin(), e.sequence_ids.end(), id);
  for (Encoding& o : e.overflowing) std::fill(o.sequence_ids.begin(), o.sequence_ids.end(), id);
}

}  // namespace ember::tok
