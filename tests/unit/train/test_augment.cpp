// Augmentation and the batch loader, checked by drawing: every box is a filled rectangle of
// its class' colour on grey, so after any geometric step each box must still enclose its colour.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <numeric>
#include <random>
#include <set>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "augment.hpp"
#include "batch_loader.hpp"
#include "helpers/test_support.hpp"
#include "vision/image/letterbox.hpp"

namespace fs = std::filesystem;
using vision::DatasetItem;
using vision::test::TempDir;
using vision::train::AugmentOptions;
using vision::train::Batch;
using vision::train::BatchLoader;
using vision::train::LabeledBox;
using vision::train::LoaderOptions;
using vision::train::Sample;

namespace {

// One pure colour per class (BGR); backgrounds are grey (128 drawn, 114 padding).
const std::vector<cv::Vec3b> k_colours = {{0, 0, 255},   {0, 255, 0},   {255, 0, 0},
                                          {0, 255, 255}, {255, 0, 255}, {255, 255, 0}};
const std::vector<cv::Vec3b> k_greys = {{128, 128, 128}, {114, 114, 114}};

// The class whose colour is nearest to the pixel, or -1 for grey.
int colour_class(const cv::Vec3b& pixel) {
  const auto distance = [&](const cv::Vec3b& c) {
    return cv::norm(cv::Vec3d(pixel) - cv::Vec3d(c));
  };
  int best = -1;
  double best_distance = std::min(distance(k_greys[0]), distance(k_greys[1]));
  for (std::size_t c = 0; c < k_colours.size(); ++c) {
    if (distance(k_colours[c]) < best_distance) {
      best = static_cast<int>(c);
      best_distance = distance(k_colours[c]);
    }
  }
  return best;
}

// A w × h grey image with up to four rectangles, one per quadrant so they never overlap, each
// at least 40 % of its quadrant; the boxes are exactly the rectangles.
Sample make_sample(int w, int h, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  const auto pick = [&](int lo, int hi) {
    return lo + static_cast<int>(rng() % static_cast<std::uint64_t>(hi - lo + 1));
  };
  Sample s{cv::Mat(h, w, CV_8UC3, cv::Scalar(128, 128, 128)), {}};
  const int cw = w / 2;
  const int ch = h / 2;
  for (int q = 0; q < 4; ++q) {
    if (q > 0 && rng() % 4 == 0) continue;  // some quadrants stay empty
    const int rw = pick(cw * 2 / 5, cw - 4);
    const int rh = pick(ch * 2 / 5, ch - 4);
    const int x = (q % 2) * cw + pick(2, cw - rw - 2);
    const int y = (q / 2) * ch + pick(2, ch - rh - 2);
    const int cls = pick(0, static_cast<int>(k_colours.size()) - 1);
    const auto& c = k_colours[static_cast<std::size_t>(cls)];
    cv::rectangle(s.image, cv::Rect(x, y, rw, rh), cv::Scalar(c[0], c[1], c[2]), cv::FILLED);
    s.boxes.push_back({cls, static_cast<float>(x), static_cast<float>(y),
                       static_cast<float>(x + rw), static_cast<float>(y + rh)});
  }
  return s;
}

// Every box lies inside the image and encloses its colour: the centre pixel, and ≥ 80 % of the
// area for boxes big enough that blended edges do not dominate. Returns the boxes checked.
int expect_boxes_on_their_colours(const Sample& s, const std::string& what) {
  const auto w = static_cast<float>(s.image.cols);
  const auto h = static_cast<float>(s.image.rows);
  for (const auto& b : s.boxes) {
    SCOPED_TRACE(what + " box class " + std::to_string(b.class_id) + " at " + std::to_string(b.x1) +
                 "," + std::to_string(b.y1) + "," + std::to_string(b.x2) + "," +
                 std::to_string(b.y2));
    EXPECT_GE(b.x1, 0.0F);
    EXPECT_GE(b.y1, 0.0F);
    EXPECT_LE(b.x2, w);
    EXPECT_LE(b.y2, h);
    EXPECT_LT(b.x1, b.x2);
    EXPECT_LT(b.y1, b.y2);
    const int cx = std::clamp(static_cast<int>((b.x1 + b.x2) / 2), 0, s.image.cols - 1);
    const int cy = std::clamp(static_cast<int>((b.y1 + b.y2) / 2), 0, s.image.rows - 1);
    EXPECT_EQ(colour_class(s.image.at<cv::Vec3b>(cy, cx)), b.class_id);
    if (std::min(b.x2 - b.x1, b.y2 - b.y1) < 10) continue;
    int inside = 0;
    int matching = 0;
    for (int y = static_cast<int>(std::lround(b.y1)); y < static_cast<int>(std::lround(b.y2));
         ++y) {
      for (int x = static_cast<int>(std::lround(b.x1)); x < static_cast<int>(std::lround(b.x2));
           ++x) {
        ++inside;
        matching += colour_class(s.image.at<cv::Vec3b>(y, x)) == b.class_id ? 1 : 0;
      }
    }
    EXPECT_GE(matching, 0.8 * inside);
  }
  return static_cast<int>(s.boxes.size());
}

AugmentOptions no_hsv(int img_size) {
  AugmentOptions o;
  o.img_size = img_size;
  o.hsv_h = o.hsv_s = o.hsv_v = 0;
  return o;
}

bool same_boxes(const std::vector<LabeledBox>& a, const std::vector<LabeledBox>& b) {
  return std::ranges::equal(a, b, [](const LabeledBox& p, const LabeledBox& q) {
    return p.class_id == q.class_id && p.x1 == q.x1 && p.y1 == q.y1 && p.x2 == q.x2 && p.y2 == q.y2;
  });
}

bool same_image(const cv::Mat& a, const cv::Mat& b) {
  return a.size() == b.size() && a.type() == b.type() && cv::norm(a, b, cv::NORM_INF) == 0;
}

// Writes `n` PNG images (lossless, so colours survive) with their boxes into `dir`.
std::vector<DatasetItem> write_items(const fs::path& dir, int n) {
  std::vector<DatasetItem> items;
  const std::vector<cv::Size> sizes = {{120, 90}, {90, 120}, {100, 100}, {160, 64}};
  for (int i = 0; i < n; ++i) {
    const auto size = sizes[static_cast<std::size_t>(i) % sizes.size()];
    const auto sample = make_sample(size.width, size.height, 100 + static_cast<std::uint64_t>(i));
    DatasetItem item;
    item.image = dir / ("image" + std::to_string(i) + ".png");
    cv::imwrite(item.image.string(), sample.image);
    const auto w = static_cast<float>(size.width);
    const auto h = static_cast<float>(size.height);
    for (const auto& b : sample.boxes) {
      item.boxes.push_back({b.class_id, (b.x1 + b.x2) / 2 / w, (b.y1 + b.y2) / 2 / h,
                            (b.x2 - b.x1) / w, (b.y2 - b.y1) / h});
    }
    items.push_back(std::move(item));
  }
  return items;
}

LoaderOptions loader_options(int workers) {
  LoaderOptions o;
  o.img_size = 64;
  o.batch_size = 4;
  o.workers = workers;
  o.seed = 11;
  return o;
}

std::vector<Batch> whole_epoch(BatchLoader& loader, int epoch, bool mosaic) {
  loader.start_epoch(epoch, mosaic);
  std::vector<Batch> batches;
  while (true) {
    auto batch = loader.next();
    EXPECT_TRUE(batch) << batch.error().message;
    if (!batch || !*batch) break;
    batches.push_back(std::move(**batch));
  }
  return batches;
}

bool same_batch(const Batch& a, const Batch& b) {
  return a.items == b.items && torch::equal(a.images, b.images) &&
         torch::equal(a.targets.image_index, b.targets.image_index) &&
         torch::equal(a.targets.classes, b.targets.classes) &&
         torch::equal(a.targets.boxes, b.targets.boxes);
}

}  // namespace

TEST(Augment, LoadSampleSetsTheLongSideAndScalesTheBoxes) {
  TempDir dir;
  const auto sample = make_sample(200, 100, 1);
  DatasetItem item;
  item.image = dir / "wide.png";
  cv::imwrite(item.image.string(), sample.image);
  const auto& b = sample.boxes[0];
  item.boxes.push_back({b.class_id, (b.x1 + b.x2) / 400, (b.y1 + b.y2) / 200, (b.x2 - b.x1) / 200,
                        (b.y2 - b.y1) / 100});
  const auto loaded = vision::train::load_sample(item, 160);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->image.cols, 160);
  EXPECT_EQ(loaded->image.rows, 80);
  ASSERT_EQ(loaded->boxes.size(), 1U);
  EXPECT_NEAR(loaded->boxes[0].x1, b.x1 * 0.8F, 1e-3);
  EXPECT_NEAR(loaded->boxes[0].y2, b.y2 * 0.8F, 1e-3);
  expect_boxes_on_their_colours(*loaded, "loaded");
}

TEST(Augment, LoadSampleNamesAnUnreadableImage) {
  TempDir dir;
  DatasetItem item;
  item.image = dir / "broken.png";
  vision::test::write_text(item.image, "not an image");
  const auto loaded = vision::train::load_sample(item, 64);
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().message.find("broken.png"), std::string::npos) << loaded.error().message;
}

TEST(Augment, LetterboxCentresWithGreyPaddingAndNeverEnlarges) {
  const auto wide = make_sample(160, 80, 2);
  const auto boxed = vision::train::letterbox_sample(wide, 160);
  EXPECT_EQ(boxed.image.size(), cv::Size(160, 160));
  EXPECT_EQ(boxed.image.at<cv::Vec3b>(0, 0), k_greys[1]);
  EXPECT_EQ(boxed.image.at<cv::Vec3b>(159, 80), k_greys[1]);
  ASSERT_EQ(boxed.boxes.size(), wide.boxes.size());
  EXPECT_EQ(boxed.boxes[0].y1, wide.boxes[0].y1 + 40);
  EXPECT_EQ(boxed.boxes[0].x1, wide.boxes[0].x1);
  expect_boxes_on_their_colours(boxed, "letterboxed");

  const auto small = make_sample(60, 40, 3);
  const auto kept = vision::train::letterbox_sample(small, 160);
  EXPECT_EQ(kept.image.size(), cv::Size(160, 160));
  EXPECT_EQ(kept.boxes[0].x2 - kept.boxes[0].x1, small.boxes[0].x2 - small.boxes[0].x1);
  EXPECT_EQ(kept.boxes[0].x1, small.boxes[0].x1 + 50);
  EXPECT_EQ(kept.boxes[0].y1, small.boxes[0].y1 + 60);
  expect_boxes_on_their_colours(kept, "small letterboxed");
}

TEST(Augment, MosaicThenAffineKeepsBoxesOnTheirColours) {
  constexpr int k_size = 160;
  const auto o = no_hsv(k_size);
  int checked = 0;
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    const std::array<Sample, 4> parts = {
        make_sample(160, 120, seed * 4), make_sample(120, 160, seed * 4 + 1),
        make_sample(160, 160, seed * 4 + 2), make_sample(160, 90, seed * 4 + 3)};
    std::mt19937_64 rng(seed);
    const auto mosaic =
        vision::train::mosaic4({&parts[0], &parts[1], &parts[2], &parts[3]}, k_size, rng);
    EXPECT_EQ(mosaic.image.size(), cv::Size(2 * k_size, 2 * k_size));
    expect_boxes_on_their_colours(mosaic, "mosaic seed " + std::to_string(seed));
    const auto out = vision::train::random_affine(mosaic, o, -k_size / 2, rng);
    EXPECT_EQ(out.image.size(), cv::Size(k_size, k_size));
    checked += expect_boxes_on_their_colours(out, "mosaic+affine seed " + std::to_string(seed));
  }
  EXPECT_GT(checked, 60);  // the check must not pass by dropping every box
}

TEST(Augment, LetterboxThenAffineKeepsBoxesOnTheirColours) {
  constexpr int k_size = 160;
  const auto o = no_hsv(k_size);
  int checked = 0;
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    const auto in = vision::train::letterbox_sample(
        make_sample(160, 100 + static_cast<int>(seed) * 3, seed), k_size);
    std::mt19937_64 rng(seed);
    const auto out = vision::train::random_affine(in, o, 0, rng);
    EXPECT_EQ(out.image.size(), cv::Size(k_size, k_size));
    checked += expect_boxes_on_their_colours(out, "letterbox+affine seed " + std::to_string(seed));
  }
  EXPECT_GT(checked, 40);
}

TEST(Augment, AffineKeepsOnlyBoxesMostlyInsideAndWiderThanTwoPixels) {
  // scale 0 and translate 0 make the transform a pure crop: gain 1, centre to centre.
  AugmentOptions o = no_hsv(100);
  o.scale = 0;
  o.translate = 0;
  struct Case {
    LabeledBox box;
    bool kept;
  };
  const std::vector<Case> cases = {
      {{0, 10, 10, 40, 40}, true},     // inside
      {{1, -80, 10, 20, 40}, true},    // 20 % inside
      {{2, -92, 10, 8, 40}, false},    // 8 % inside
      {{3, 10, 10, 12, 40}, false},    // 2 px wide
      {{4, 10, 10, 13, 40}, true},     // 3 px wide
      {{5, 150, 10, 180, 40}, false},  // outside
  };
  Sample s{cv::Mat(100, 100, CV_8UC3, cv::Scalar::all(128)), {}};
  for (const auto& c : cases) s.boxes.push_back(c.box);
  std::mt19937_64 rng(0);
  const auto out = vision::train::random_affine(s, o, 0, rng);
  std::set<int> kept;
  for (const auto& b : out.boxes) kept.insert(b.class_id);
  for (const auto& c : cases)
    EXPECT_EQ(kept.contains(c.box.class_id), c.kept) << "box " << c.box.class_id;
  ASSERT_FALSE(out.boxes.empty());
  EXPECT_EQ(out.boxes[0].x1, 10.0F);  // an identity warp leaves boxes where they were
  EXPECT_EQ(out.boxes[1].x1, 0.0F);   // clipped

  // After a mosaic the border −s/2 crops the canvas' centre: boxes move by −s/2.
  Sample canvas{cv::Mat(200, 200, CV_8UC3, cv::Scalar::all(128)), {{0, 60, 70, 90, 120}}};
  const auto cropped = vision::train::random_affine(canvas, o, -50, rng);
  EXPECT_EQ(cropped.image.size(), cv::Size(100, 100));
  ASSERT_EQ(cropped.boxes.size(), 1U);
  EXPECT_FLOAT_EQ(cropped.boxes[0].x1, 10);
  EXPECT_FLOAT_EQ(cropped.boxes[0].y1, 20);
  EXPECT_FLOAT_EQ(cropped.boxes[0].x2, 40);
  EXPECT_FLOAT_EQ(cropped.boxes[0].y2, 70);
}

TEST(Augment, FlipMirrorsImageAndBoxes) {
  const auto in = make_sample(150, 100, 5);
  auto out = in;
  vision::train::flip_horizontal(out);
  ASSERT_EQ(out.boxes.size(), in.boxes.size());
  for (std::size_t i = 0; i < in.boxes.size(); ++i) {
    EXPECT_EQ(out.boxes[i].x1, 150 - in.boxes[i].x2);
    EXPECT_EQ(out.boxes[i].x2, 150 - in.boxes[i].x1);
    EXPECT_EQ(out.boxes[i].y1, in.boxes[i].y1);
  }
  expect_boxes_on_their_colours(out, "flipped");
  EXPECT_TRUE(same_image(in.image, make_sample(150, 100, 5).image));  // shared pixels untouched
  EXPECT_EQ(in.image.at<cv::Vec3b>(10, 3), out.image.at<cv::Vec3b>(10, 146));
}

TEST(Augment, HsvChangesColoursButNotGeometry) {
  const auto in = make_sample(160, 120, 6);
  AugmentOptions o;
  o.hsv_h = 0.5;  // large gains so every seed visibly changes the colours
  const auto chromatic = [](const cv::Mat& image) {
    cv::Mat mask(image.size(), CV_8U);
    for (int y = 0; y < image.rows; ++y) {
      for (int x = 0; x < image.cols; ++x) {
        const auto p = image.at<cv::Vec3b>(y, x);
        mask.at<uchar>(y, x) =
            std::max({p[0], p[1], p[2]}) - std::min({p[0], p[1], p[2]}) > 8 ? 255 : 0;
      }
    }
    return mask;
  };
  for (std::uint64_t seed = 0; seed < 5; ++seed) {
    cv::Mat image = in.image.clone();
    std::mt19937_64 rng(seed);
    vision::train::augment_hsv(image, o, rng);
    EXPECT_EQ(image.size(), in.image.size());
    EXPECT_FALSE(same_image(image, in.image)) << "seed " << seed;
    EXPECT_TRUE(same_image(chromatic(image), chromatic(in.image))) << "seed " << seed;
  }
  // All gains 0: untouched.
  cv::Mat image = in.image.clone();
  std::mt19937_64 rng(0);
  vision::train::augment_hsv(image, no_hsv(160), rng);
  EXPECT_TRUE(same_image(image, in.image));
}

TEST(Augment, PipelineIsReproducibleForASeedAndKeepsColoursWithoutHsv) {
  std::vector<Sample> set;
  for (std::uint64_t i = 0; i < 6; ++i)
    set.push_back(make_sample(160, 100 + static_cast<int>(i) * 10, i));
  const auto load = [&](std::size_t i) -> vision::Expected<Sample> { return set[i]; };
  const auto run = [&](std::uint64_t seed, bool mosaic, const AugmentOptions& o) {
    std::mt19937_64 rng(seed);
    auto out =
        vision::train::augment_training_sample(seed % set.size(), set.size(), mosaic, o, rng, load);
    EXPECT_TRUE(out) << out.error().message;
    return *out;
  };
  AugmentOptions with_hsv;
  with_hsv.img_size = 128;
  for (bool mosaic : {true, false}) {
    const auto a = run(3, mosaic, with_hsv);
    const auto b = run(3, mosaic, with_hsv);
    const auto c = run(4, mosaic, with_hsv);
    EXPECT_EQ(a.image.size(), cv::Size(128, 128));
    EXPECT_TRUE(same_image(a.image, b.image));
    EXPECT_TRUE(same_boxes(a.boxes, b.boxes));
    EXPECT_FALSE(same_image(a.image, c.image));
  }
  int checked = 0;
  for (std::uint64_t seed = 0; seed < 16; ++seed) {
    checked += expect_boxes_on_their_colours(run(seed, seed % 2 == 0, no_hsv(128)),
                                             "pipeline seed " + std::to_string(seed));
  }
  EXPECT_GT(checked, 20);
  // The inputs are shared with the caller (a cache): the pipeline must not write into them.
  for (std::uint64_t i = 0; i < set.size(); ++i) {
    EXPECT_TRUE(
        same_image(set[i].image, make_sample(160, 100 + static_cast<int>(i) * 10, i).image));
  }
}

TEST(Augment, PipelinePassesOnALoadError) {
  const auto load = [](std::size_t i) -> vision::Expected<Sample> {
    if (i == 0) return make_sample(64, 64, 0);
    return vision::fail(vision::ErrorCode::invalid_data,
                        "/data/bad.jpg: unreadable or corrupt image");
  };
  AugmentOptions o = no_hsv(64);
  std::mt19937_64 rng(0);
  const auto mosaic = vision::train::augment_training_sample(0, 5, true, o, rng, load);
  ASSERT_FALSE(mosaic);  // a partner index in 1..4 fails to load
  EXPECT_NE(mosaic.error().message.find("bad.jpg"), std::string::npos);
  const auto single = vision::train::augment_training_sample(1, 5, false, o, rng, load);
  ASSERT_FALSE(single);
  EXPECT_EQ(single.error().code, vision::ErrorCode::invalid_data);
}

TEST(BatchLoader, EpochCoversEveryImageOnceWithNormalisedTargets) {
  TempDir dir;
  BatchLoader loader(write_items(dir.path(), 10), loader_options(2));
  EXPECT_EQ(loader.batches_per_epoch(), 3);
  const auto batches = whole_epoch(loader, 0, true);
  ASSERT_EQ(batches.size(), 3U);
  std::vector<std::size_t> seen;
  std::int64_t boxes = 0;
  for (std::size_t i = 0; i < batches.size(); ++i) {
    const auto& batch = batches[i];
    const std::int64_t b = i + 1 < batches.size() ? 4 : 2;
    EXPECT_EQ(batch.images.sizes(), (std::vector<std::int64_t>{b, 3, 64, 64}));
    EXPECT_EQ(batch.images.dtype(), torch::kFloat32);
    EXPECT_TRUE(batch.images.is_contiguous());
    EXPECT_GE(batch.images.min().item<float>(), 0.0F);
    EXPECT_LE(batch.images.max().item<float>(), 1.0F);
    EXPECT_GT(batch.images.max().item<float>(), 0.5F);
    EXPECT_EQ(batch.items.size(), static_cast<std::size_t>(b));
    seen.insert(seen.end(), batch.items.begin(), batch.items.end());
    const auto& t = batch.targets;
    const auto m = t.image_index.size(0);
    EXPECT_EQ(t.image_index.dtype(), torch::kLong);
    EXPECT_EQ(t.classes.dtype(), torch::kLong);
    EXPECT_EQ(t.boxes.dtype(), torch::kFloat32);
    EXPECT_EQ(t.classes.size(0), m);
    EXPECT_EQ(t.boxes.sizes(), (std::vector<std::int64_t>{m, 4}));
    boxes += m;
    if (m == 0) continue;
    EXPECT_GE(t.image_index.min().item<std::int64_t>(), 0);
    EXPECT_LT(t.image_index.max().item<std::int64_t>(), b);
    EXPECT_LT(t.classes.max().item<std::int64_t>(), static_cast<std::int64_t>(k_colours.size()));
    EXPECT_GE(t.boxes.min().item<float>(), 0.0F);
    EXPECT_LE(t.boxes.max().item<float>(), 1.0F);
    const auto xywh = t.boxes;
    EXPECT_GE((xywh.select(1, 0) - xywh.select(1, 2) / 2).min().item<float>(), -1e-5F);
    EXPECT_LE((xywh.select(1, 0) + xywh.select(1, 2) / 2).max().item<float>(), 1 + 1e-5F);
  }
  EXPECT_GT(boxes, 10);
  std::ranges::sort(seen);
  std::vector<std::size_t> all(10);
  std::iota(all.begin(), all.end(), std::size_t{0});
  EXPECT_EQ(seen, all);
  const auto after = loader.next();
  ASSERT_TRUE(after);
  EXPECT_FALSE(*after);  // and it stays done
  EXPECT_FALSE(*loader.next());
}

TEST(BatchLoader, SameBatchesWhateverTheNumberOfWorkers) {
  TempDir dir;
  const auto items = write_items(dir.path(), 10);
  std::vector<std::vector<Batch>> runs;
  for (int workers : {0, 1, 3}) {
    BatchLoader loader(items, loader_options(workers));
    auto epoch0 = whole_epoch(loader, 0, true);
    auto epoch1 = whole_epoch(loader, 1, false);
    epoch0.insert(epoch0.end(), epoch1.begin(), epoch1.end());
    runs.push_back(std::move(epoch0));
  }
  ASSERT_EQ(runs[0].size(), 6U);
  for (std::size_t r = 1; r < runs.size(); ++r) {
    ASSERT_EQ(runs[r].size(), runs[0].size());
    for (std::size_t i = 0; i < runs[0].size(); ++i)
      EXPECT_TRUE(same_batch(runs[0][i], runs[r][i])) << "run " << r << " batch " << i;
  }
  // Another epoch is another order and other augmentation.
  EXPECT_FALSE(same_batch(runs[0][0], runs[0][3]));
}

TEST(BatchLoader, RestartingAnEpochGivesTheSameBatches) {
  TempDir dir;
  BatchLoader loader(write_items(dir.path(), 10), loader_options(2));
  loader.start_epoch(4, true);
  ASSERT_TRUE(loader.next());  // one batch taken, the rest dropped by the restart
  const auto first = whole_epoch(loader, 4, true);
  const auto second = whole_epoch(loader, 4, true);
  ASSERT_EQ(first.size(), 3U);
  ASSERT_EQ(second.size(), 3U);
  for (std::size_t i = 0; i < first.size(); ++i) EXPECT_TRUE(same_batch(first[i], second[i]));
}

TEST(BatchLoader, WithoutAugmentationImagesAreLetterboxedInOrder) {
  TempDir dir;
  const auto items = write_items(dir.path(), 5);
  auto o = loader_options(1);
  o.augment = false;
  o.shuffle = false;
  BatchLoader loader(items, o);
  const auto batches = whole_epoch(loader, 0, true);
  ASSERT_EQ(batches.size(), 2U);
  EXPECT_EQ(batches[0].items, (std::vector<std::size_t>{0, 1, 2, 3}));
  const auto expected =
      vision::train::letterbox_sample(*vision::train::load_sample(items[1], 64), 64);
  auto pixels = torch::empty({3, 64, 64});
  vision::bgr_to_rgb_chw(expected.image, pixels.data_ptr<float>());
  EXPECT_TRUE(torch::equal(batches[0].images[1], pixels));
  const auto rows = batches[0].targets.image_index.eq(1).nonzero().squeeze(1);
  ASSERT_EQ(rows.size(0), static_cast<std::int64_t>(expected.boxes.size()));
  const auto& b = expected.boxes[0];
  EXPECT_NEAR(batches[0].targets.boxes[rows[0].item<std::int64_t>()][0].item<float>(),
              (b.x1 + b.x2) / 2 / 64, 1e-6);
}

TEST(BatchLoader, UnreadableImageIsAnErrorNamingTheFile) {
  TempDir dir;
  auto items = write_items(dir.path(), 6);
  items[2].image = dir / "corrupt.png";
  vision::test::write_text(items[2].image, "not an image");
  for (int workers : {0, 2}) {
    auto o = loader_options(workers);
    o.shuffle = false;
    o.augment_options.mosaic = 0;  // only image 2 itself can fail
    BatchLoader loader(items, o);
    loader.start_epoch(0, true);
    const auto first = loader.next();
    ASSERT_FALSE(first) << "workers " << workers;
    EXPECT_NE(first.error().message.find("corrupt.png"), std::string::npos)
        << first.error().message;
    const auto second = loader.next();  // the batch after it still comes
    ASSERT_TRUE(second);
    ASSERT_TRUE(*second);
    EXPECT_EQ((*second)->items, (std::vector<std::size_t>{4, 5}));
  }
}

TEST(BatchLoader, NextBeforeStartEpochIsAnError) {
  TempDir dir;
  BatchLoader loader(write_items(dir.path(), 2), loader_options(1));
  EXPECT_FALSE(loader.next());
}

TEST(BatchLoader, RejectsUnusableOptions) {
  auto odd = loader_options(0);
  odd.img_size = 63;
  EXPECT_THROW(BatchLoader({}, odd), vision::VisionError);
  auto empty_batch = loader_options(0);
  empty_batch.batch_size = 0;
  EXPECT_THROW(BatchLoader({}, empty_batch), vision::VisionError);
  auto negative = loader_options(-1);
  EXPECT_THROW(BatchLoader({}, negative), vision::VisionError);
}

TEST(BatchLoader, DestroyedMidEpochStopsPromptly) {
  TempDir dir;
  const auto items = write_items(dir.path(), 24);
  auto o = loader_options(3);
  o.img_size = 256;
  o.batch_size = 2;
  for (bool take_one : {false, true}) {
    const auto start = std::chrono::steady_clock::now();
    {
      BatchLoader loader(items, o);
      loader.start_epoch(0, true);
      if (take_one) {
        ASSERT_TRUE(loader.next());
      }
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  }
}

TEST(BatchLoader, CachedImagesOutliveTheirFiles) {
  // A small set fits the cache: after one epoch the files are no longer read.
  TempDir dir;
  const auto items = write_items(dir.path(), 6);
  BatchLoader loader(items, loader_options(2));
  const auto first = whole_epoch(loader, 0, true);
  for (const auto& item : items) fs::remove(item.image);
  const auto second = whole_epoch(loader, 1, true);
  EXPECT_EQ(second.size(), 2U);
}
