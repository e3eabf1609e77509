#include "prune/quality.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>
#include <random>

#include <Eigen/Dense>

#include "core/error.h"

namespace ember::prune {
namespace {

using MatD = Eigen::MatrixXd;

// L2-regularised logistic regression, full-batch gradient descent with Nesterov momentum;
// returns [w; b].
Eigen::VectorXd train_probe(const MatD& x, const Eigen::VectorXd& y) {
  const int64_t d = x.cols();
  Eigen::VectorXd w = Eigen::VectorXd::Zero(d + 1), v = Eigen::VectorXd::Zero(d + 1);
  MatD xa(x.rows(), d + 1);
  xa << x, Eigen::VectorXd::Ones(x.rows());
  const double lr = 2.0, momentum = 0.9, l2 = 1e-4, inv = 1.0 / static_cast<double>(x.rows());
  for (int it = 0; it < 400; ++it) {
    const Eigen::VectorXd look = w + momentum * v;
    const Eigen::VectorXd p = (1.0 + (-(xa * look)).array().exp()).inverse().matrix();
    Eigen::VectorXd grad = xa.transpose() * (p - y) * inv;
    grad.head(d) += l2 * look.head(d);
    v = momentum * v - lr * grad;
    w += v;
  }
  return w;
}

double accuracy(const Eigen::VectorXd& w, const MatD& x, const Eigen::VectorXd& y) {
  const Eigen::VectorXd z = x * w.head(x.cols()) + Eigen::VectorXd::Constant(x.rows(), w(x.cols()));
  int64_t right = 0;
  for (int64_t i = 0; i < x.rows(); ++i) right += (z(i) > 0) == (y(i) > 0.5);
  return static_cast<double>(right) / static_cast<double>(x.rows());
}

MatD rows_of(const std::vector<float>& e, int64_t dim, const std::vector<size_t>& idx) {
  MatD m(static_cast<int64_t>(idx.size()), dim);
  for (size_t r = 0; r < idx.size(); ++r)
    for (int64_t c = 0; c < dim; ++c) m(static_cast<int64_t>(r), c) = e[idx[r] * dim + c];
  return m;
}

// Indices of the k most similar other rows of each row (cosine).
std::vector<std::vector<int64_t>> nearest(MatD x, int64_t k) {
  x.rowwise().normalize();
  const MatD sim = x * x.transpose();
  std::vector<std::vector<int64_t>> out(static_cast<size_t>(x.rows()));
  std::vector<int64_t> order(static_cast<size_t>(x.rows()));
  for (int64_t i = 0; i < x.rows(); ++i) {
    std::iota(order.begin(), order.end(), 0);
    std::erase(order, i);
    const int64_t kk = std::min<int64_t>(k, static_cast<int64_t>(order.size()));
    std::partial_sort(order.begin(), order.begin() + kk, order.end(),
                      [&](int64_t a, int64_t b) { return sim(i, a) > sim(i, b); });
    out[i].assign(order.begin(), order.begin() + kk);
    std::sort(out[i].begin(), out[i].end());
  }
  return out;
}

struct ProbeScores {
  double base = 0, other = 0, base_probe_on_other = 0;
};

// k-fold cross-validated probe accuracies over all texts in `order`'s (shuffled) order: fold f
// holds out every k-th text starting at f, the probes train on the rest.
ProbeScores cross_validated_probes(const std::vector<float>& eb, const std::vector<float>& eo,
                                   int64_t dim, const std::vector<LabeledText>& texts,
                                   const std::vector<size_t>& order, int folds) {
  EMBER_CHECK(static_cast<size_t>(folds) <= texts.size() / 2, ErrorKind::kInvalidInput, folds,
              " probe folds need at least ", 2 * folds, " texts, got ", texts.size());
  int64_t right_base = 0, right_other = 0, right_cross = 0;
  for (int f = 0; f < folds; ++f) {
    std::vector<size_t> train, test;
    for (size_t i = 0; i < order.size(); ++i)
      (static_cast<int>(i % static_cast<size_t>(folds)) == f ? test : train).push_back(order[i]);
    Eigen::VectorXd ytr(static_cast<int64_t>(train.size())), yte(static_cast<int64_t>(test.size()));
    for (size_t i = 0; i < train.size(); ++i) ytr(static_cast<int64_t>(i)) = texts[train[i]].label;
    for (size_t i = 0; i < test.size(); ++i) yte(static_cast<int64_t>(i)) = texts[test[i]].label;
    const MatD bte = rows_of(eb, dim, test), ote = rows_of(eo, dim, test);
    const Eigen::VectorXd wb = train_probe(rows_of(eb, dim, train), ytr);
    const Eigen::VectorXd wo = train_probe(rows_of(eo, dim, train), ytr);
    const auto n = static_cast<double>(test.size());
    right_base += std::llround(accuracy(wb, bte, yte) * n);
    right_other += std::llround(accuracy(wo, ote, yte) * n);
    right_cross += std::llround(accuracy(wb, ote, yte) * n);
  }
  const auto n = static_cast<double>(order.size());
  return {static_cast<double>(right_base) / n, static_cast<double>(right_other) / n,
          static_cast<double>(right_cross) / n};
}

}  // namespace

std::vector<LabeledText> read_rated_sentences(const std::filesystem::path& path) {
  std::ifstream in(path);
  EMBER_CHECK(in.good(), ErrorKind::kNotFound, "cannot read '", path.string(), "'");
  std::vector<LabeledText> out;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t t1 = line.find('\t'), t2 = line.find('\t', t1 + 1);
    if (t1 == std::string::npos || t2 == std::string::npos) continue;
    double rating = 0;
    try {
      rating = std::stod(line.substr(t1 + 1, t2 - t1 - 1));
    } catch (...) {
      continue;
    }
    if (rating != 0) out.push_back({line.substr(t2 + 1), rating > 0 ? 1 : 0});
  }
  EMBER_CHECK(!out.empty(), ErrorKind::kInvalidInput, "'", path.string(),
              "' has no id<TAB>rating<TAB>text line with a non-zero rating");
  return out;
}

std::vector<float> embed_texts(const runtime::Engine& engine,
                               const std::vector<LabeledText>& texts) {
  std::vector<float> out;
  for (size_t i = 0; i < texts.size(); i += 64) {
    std::vector<tok::Encoding> enc;
    for (size_t j = i; j < std::min(texts.size(), i + 64); ++j)
      enc.push_back(engine.tokenize(texts[j].text));
    const auto r = engine.run(runtime::Engine::pack(enc), runtime::kPooled);
    out.insert(out.end(), r.pooled.begin(), r.pooled.end());
  }
  return out;
}

Fidelity compare_embeddings(const std::vector<float>& base, const std::vector<float>& other,
                            int64_t dim, int64_t neighbours) {
  EMBER_CHECK(dim > 0 && base.size() == other.size() && base.size() % static_cast<size_t>(dim) == 0,
              ErrorKind::kInvalidInput, "embeddings of different shapes");
  std::vector<size_t> all(base.size() / static_cast<size_t>(dim));
  std::iota(all.begin(), all.end(), size_t{0});
  const MatD b = rows_of(base, dim, all), o = rows_of(other, dim, all);
  Fidelity f;
  if (all.empty()) return f;
  for (int64_t i = 0; i < b.rows(); ++i)
    f.mean_cosine += b.row(i).dot(o.row(i)) / (b.row(i).norm() * o.row(i).norm());
  f.mean_cosine /= static_cast<double>(b.rows());
  const auto nb = nearest(b, neighbours), no = nearest(o, neighbours);
  for (size_t i = 0; i < nb.size(); ++i) {
    std::vector<int64_t> both;
    std::set_intersection(nb[i].begin(), nb[i].end(), no[i].begin(), no[i].end(),
                          std::back_inserter(both));
    f.neighbour_overlap +=
        nb[i].empty() ? 1.0 : static_cast<double>(both.size()) / static_cast<double>(nb[i].size());
  }
  f.neighbour_overlap /= static_cast<double>(nb.size());
  return f;
}

CosineSpread cosine_spread(const std::vector<float>& base, const std::vector<float>& other,
                           int64_t dim) {
  EMBER_CHECK(dim > 0 && base.size() == other.size() && base.size() % static_cast<size_t>(dim) == 0,
              ErrorKind::kInvalidInput, "embeddings of different shapes");
  const size_t n = base.size() / static_cast<size_t>(dim);
  CosineSpread c;
  if (n == 0) return c;
  std::vector<std::pair<double, size_t>> cos(n);
  double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    const float *a = &base[i * static_cast<size_t>(dim)], *b = &other[i * static_cast<size_t>(dim)];
    double ab = 0, aa = 0, bb = 0;
    for (int64_t j = 0; j < dim; ++j) {
      ab += static_cast<double>(a[j]) * b[j];
      aa += static_cast<double>(a[j]) * a[j];
      bb += static_cast<double>(b[j]) * b[j];
    }
    cos[i] = {ab / std::sqrt(aa * bb), i};
    sum += cos[i].first;
    c.below_0_99 += cos[i].first < 0.99;
  }
  std::sort(cos.begin(), cos.end());
  c.mean = sum / static_cast<double>(n);
  c.min = cos.front().first;
  c.p1 = cos[n / 100].first;
  c.worst.assign(cos.begin(), cos.begin() + static_cast<std::ptrdiff_t>(std::min<size_t>(5, n)));
  return c;
}

double label_accuracy(const runtime::Engine& engine, const std::vector<model::Batch>& batches,
                      const std::vector<int>& labels) {
  size_t seq = 0, right = 0;
  for (const auto& b : batches) {
    const auto r = engine.run(b, runtime::kSeqLogits);
    const auto n = static_cast<size_t>(r.num_labels);
    EMBER_CHECK(n > 0 && r.seq_logits.size() % n == 0, ErrorKind::kInvalidInput,
                "label accuracy needs a sequence-classification model");
    for (size_t s = 0; s < r.seq_logits.size() / n; ++s, ++seq) {
      EMBER_CHECK(seq < labels.size(), ErrorKind::kInternal, "more sequences than labels");
      const auto* l = r.seq_logits.data() + s * n;
      right +=
          static_cast<size_t>(std::max_element(l, l + n) - l) == static_cast<size_t>(labels[seq]);
    }
  }
  EMBER_CHECK(seq == labels.size(), ErrorKind::kInternal, seq, " sequences for ", labels.size(),
              " labels");
  return seq ? static_cast<double>(right) / static_cast<double>(seq) : 0.0;
}

Quality compare_quality(const runtime::Engine& base, const runtime::Engine& other,
                        const std::vector<LabeledText>& texts, const QualityOptions& o) {
  EMBER_CHECK(texts.size() >= 4, ErrorKind::kInvalidInput, "quality needs at least 4 texts");
  const int64_t dim = base.spec().hidden_size;
  EMBER_CHECK(other.spec().hidden_size == dim, ErrorKind::kInvalidInput,
              "the models' hidden sizes differ");
  const std::vector<float> eb = embed_texts(base, texts), eo = embed_texts(other, texts);
  std::vector<size_t> order(texts.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::shuffle(order.begin(), order.end(), std::mt19937_64(o.seed));
  const auto n_train =
      std::clamp<size_t>(static_cast<size_t>(o.train_fraction * static_cast<double>(order.size())),
                         2, order.size() - 2);
  const std::vector<size_t> train(order.begin(), order.begin() + n_train),
      test(order.begin() + n_train, order.end());
  Quality q;
  q.train = static_cast<int64_t>(train.size());
  q.test = static_cast<int64_t>(test.size());
  Eigen::VectorXd ytr(q.train), yte(q.test);
  for (size_t i = 0; i < train.size(); ++i) ytr(i) = texts[train[i]].label;
  for (size_t i = 0; i < test.size(); ++i) yte(i) = texts[test[i]].label;
  const MatD bte = rows_of(eb, dim, test), ote = rows_of(eo, dim, test);
  if (o.folds >= 2) {
    const ProbeScores s = cross_validated_probes(eb, eo, dim, texts, order, o.folds);
    q.probe_accuracy_base = s.base;
    q.probe_accuracy = s.other;
    q.probe_accuracy_base_probe = s.base_probe_on_other;
    q.probe_texts = static_cast<int64_t>(texts.size());
  } else {
    const MatD btr = rows_of(eb, dim, train), otr = rows_of(eo, dim, train);
    const Eigen::VectorXd wb = train_probe(btr, ytr);
    q.probe_accuracy_base = accuracy(wb, bte, yte);
    q.probe_accuracy = accuracy(train_probe(otr, ytr), ote, yte);
    q.probe_accuracy_base_probe = accuracy(wb, ote, yte);
    q.probe_texts = q.test;
  }

  double sum = 0;
  q.min_cosine = 1;
  for (int64_t i = 0; i < q.test; ++i) {
    const double c = bte.row(i).dot(ote.row(i)) / (bte.row(i).norm() * ote.row(i).norm());
    sum += c;
    q.min_cosine = std::min(q.min_cosine, c);
  }
  q.mean_cosine = sum / static_cast<double>(q.test);

  const auto nb = nearest(bte, o.neighbours), no = nearest(ote, o.neighbours);
  double overlap = 0;
  for (size_t i = 0; i < nb.size(); ++i) {
    std::vector<int64_t> both;
    std::set_intersection(nb[i].begin(), nb[i].end(), no[i].begin(), no[i].end(),
                          std::back_inserter(both));
    overlap += static_cast<double>(both.size()) / static_cast<double>(nb[i].size());
  }
  q.neighbour_overlap = overlap / static_cast<double>(nb.size());
  q.every_text = cosine_spread(eb, eo, dim);
  return q;
}

}  // namespace ember::prune
