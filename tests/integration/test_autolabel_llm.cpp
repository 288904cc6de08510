// `vision autolabel --mode llm` end to end: the real binary against a fake OpenAI-compatible
// server on loopback. Checks the labels, records (raw reply, source) and previews written, boxes
// to the pixel, the artifacts' request, retry, failure and token counts, on_conflict skip,
// max_images, a failed image that does not stop the run, a run whose every request fails, and
// the missing-key error that comes before any request. The API key never reaches a file.
#include <gtest/gtest.h>

#include <cstdlib>

#include <opencv2/imgcodecs.hpp>

#include "helpers/fake_llm_server.hpp"
#include "helpers/test_support.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using vision::test::FakeLlmServer;
using vision::test::FakeReply;
using vision::test::ok_reply;
using vision::test::read_json;
using vision::test::read_text;
using vision::test::run_vision;
using vision::test::TempDir;

namespace {

constexpr const char* k_key_env = "VISION_TEST_AUTOLABEL_LLM_KEY";
constexpr const char* k_key = "sk-integration-5ecret";

class AutolabelLlm : public testing::Test {
 protected:
  void SetUp() override {
    setenv(k_key_env, k_key, 1);
    // Sorted, so requests come in this order: a/one.png, b/two.jpg, (broken.jpg unread), c/three.bmp.
    write_image("a/one.png", 400, 200);
    write_image("b/two.jpg", 300, 300);
    write_image("c/three.bmp", 100, 50);
    vision::test::write_text(m_dir / "unlabeled/broken.jpg", "not an image");
  }

  void write_image(const std::string& relative, int width, int height) {
    const fs::path file = m_dir / "unlabeled" / relative;
    fs::create_directories(file.parent_path());
    cv::imwrite(file.string(), cv::Mat(height, width, CV_8UC3, cv::Scalar(90, 140, 30)));
  }

  vision::test::ProcessResult autolabel(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"autolabel", "--mode", "llm", "--workdir", (m_dir / "wd").string(),
                                     "--set", "class_map.names=[cat,dog]",
                                     "--set", "data.unlabeled_dir=" + (m_dir / "unlabeled").string(),
                                     "--set", "data.labeled_dir=" + (m_dir / "labeled").string(),
                                     "--set", "autolabel.llm.base_url=" + m_server.base_url() + "/",
                                     "--set", "autolabel.llm.model=fake-vlm",
                                     "--set", std::string("autolabel.llm.api_key_env=") + k_key_env,
                                     "--set", "autolabel.llm.max_retries=1",
                                     "--set", "autolabel.llm.retry_backoff_sec=0.05",
                                     "--set", "autolabel.llm.qps_limit=0",
                                     "--set", "autolabel.llm.timeout_sec=5",
                                     "--conf", "0.3"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_vision(args);
  }

  json last_run(const std::string& file) {
    fs::path newest;
    for (const auto& entry : fs::directory_iterator(m_dir / "wd/runs")) {
      if (newest.empty() || entry.path().filename() > newest.filename()) newest = entry.path();
    }
    return read_json(newest / file);
  }

  TempDir m_dir;
  FakeLlmServer m_server;
};

const std::string k_one = "Two animals.\n```json\n{\"detections\":[{\"class_name\":\"Dog\",\"score\":0.9,\"bbox_xyxy\":[40,20,120,100]},"
                          "{\"class_name\":\"horse\",\"score\":0.9,\"bbox_xyxy\":[0,0,10,10]},"
                          "{\"class_name\":\"cat\",\"score\":0.1,\"bbox_xyxy\":[0,0,50,50]}]}\n```";
const std::string k_two = R"([{"label":"cat","box_2d":[100,200,500,600]}])";

}  // namespace

TEST_F(AutolabelLlm, LabelsWithRetriesAndCountsEverything) {
  m_server.script({{500, R"({"error":{"message":"busy"}})", {}, 0.0},
                   {200, vision::test::chat_completion(k_one, 900, 40), {}, 0.0},
                   {429, "{}", {{"Retry-After", "1"}}, 0.0},
                   {200, vision::test::chat_completion(k_two, 800, 30), {}, 0.0},
                   {200, "garbage", {}, 0.0},
                   {200, "garbage", {}, 0.0}});
  const auto result = autolabel();
  ASSERT_EQ(result.exit_code, 0) << result.err;

  // a/one.png, 400×200, its own PNG bytes sent: the dog box as answered.
  EXPECT_EQ(read_text(m_dir / "labeled/labels/a/one.txt"), "1 0.200000 0.300000 0.200000 0.400000\n");
  const json record = read_json(m_dir / "labeled/records/a/one.json");
  EXPECT_EQ(record["source"], "autolabel:llm");
  ASSERT_EQ(record["detections"].size(), 1U);
  EXPECT_EQ(record["detections"][0]["bbox_xyxy"], json({40.0, 20.0, 120.0, 100.0}));
  EXPECT_EQ(record["detections"][0]["class_name"], "dog");
  EXPECT_EQ(record["llm"]["raw_reply"], k_one);
  EXPECT_EQ(record["llm"]["model"], "fake-vlm");
  EXPECT_EQ(record["llm"]["attempts"], 2);
  EXPECT_EQ(record["llm"]["dropped"], json({{"below_confidence", 1}, {"unknown_class", 1}}));
  EXPECT_EQ(record["llm"]["tokens"]["total"], 940);
  EXPECT_TRUE(fs::exists(m_dir / "labeled/previews/a/one.png"));

  // b/two.jpg, 300×300, Gemini's [y1,x1,y2,x2] on 0-1000: x 60..180, y 30..150.
  const json two = read_json(m_dir / "labeled/records/b/two.json");
  ASSERT_EQ(two["detections"].size(), 1U);
  EXPECT_EQ(two["detections"][0]["bbox_xyxy"], json({60.0, 30.0, 180.0, 150.0}));
  EXPECT_EQ(read_text(m_dir / "labeled/labels/b/two.txt"), "0 0.400000 0.300000 0.400000 0.400000\n");

  // c/three.bmp failed (garbage twice) and is left unlabeled; the run went on.
  EXPECT_FALSE(fs::exists(m_dir / "labeled/labels/c/three.txt"));
  const auto requests = m_server.requests();
  ASSERT_EQ(requests.size(), 6U);
  EXPECT_GE(std::chrono::duration<double>(requests[3].at - requests[2].at).count(), 0.95) << "Retry-After: 1";
  EXPECT_EQ(requests[1].authorization, std::string("Bearer ") + k_key);
  const std::string sent = requests[4].body["messages"][1]["content"][1]["image_url"]["url"];
  EXPECT_EQ(sent.rfind("data:image/jpeg;base64,", 0), 0U) << "BMP is re-encoded";

  const json artifacts = last_run("artifacts.json");
  EXPECT_EQ(artifacts["autolabel_mode"], "llm");
  const json& a = artifacts["artifacts"];
  EXPECT_EQ(a["images"], 4);
  EXPECT_EQ(a["created"], 2);
  EXPECT_EQ(a["failures"], 2);
  EXPECT_EQ(a["failures_by_reason"], json({{"bad_response", 1}, {"unreadable", 1}}));
  EXPECT_EQ(a["detections_per_class"], json({{"cat", 1}, {"dog", 1}}));
  EXPECT_EQ(a["dropped_unknown_class"], 1);
  const json& llm = a["llm"];
  EXPECT_EQ(llm["requests"], 6);
  EXPECT_EQ(llm["retries"], 3);
  EXPECT_EQ(llm["retries_by_reason"], json({{"bad_response", 1}, {"http_429", 1}, {"http_500", 1}}));
  EXPECT_EQ(llm["answered"], 2);
  EXPECT_EQ(llm["failed"], 1);
  EXPECT_EQ(llm["tokens"]["total"], 940 + 830);
  EXPECT_EQ(llm["tokens"]["replies_with_usage"], 2);
  EXPECT_EQ(last_run("metrics.json")["status"], "ok");

  // The key is in no file the run wrote, nor in its output.
  EXPECT_EQ(result.err.find(k_key), std::string::npos);
  EXPECT_EQ(result.out.find(k_key), std::string::npos);
  for (const auto& entry : fs::recursive_directory_iterator(m_dir.path())) {
    if (entry.is_regular_file() && entry.file_size() < (1u << 20)) {
      EXPECT_EQ(read_text(entry.path()).find(k_key), std::string::npos) << entry.path();
    }
  }

  // on_conflict = skip: only the image still without labels is asked about again.
  const auto again = autolabel();
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(m_server.requests().size(), 7U);
  EXPECT_EQ(last_run("artifacts.json")["artifacts"]["skipped"], 2);
  EXPECT_EQ(last_run("artifacts.json")["artifacts"]["created"], 1);
}

TEST_F(AutolabelLlm, MaxImagesCapsTheRequests) {
  const auto result = autolabel({"--max-images", "2", "--on-conflict", "overwrite"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(m_server.requests().size(), 2U);
  const json a = last_run("artifacts.json")["artifacts"];
  EXPECT_EQ(a["created"], 2);
  EXPECT_EQ(a["not_attempted"], 2) << "broken.jpg and c/three.bmp wait for the next run";
  EXPECT_EQ(a["llm"]["requests"], 2);
}

TEST_F(AutolabelLlm, AMissingKeyIsAUsageErrorBeforeAnyRequest) {
  unsetenv(k_key_env);
  const auto result = autolabel();
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_NE(result.err.find(k_key_env), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("autolabel.llm.api_key_env"), std::string::npos) << result.err;
  EXPECT_TRUE(m_server.requests().empty());
  EXPECT_FALSE(fs::exists(m_dir / "labeled/labels"));
}

TEST_F(AutolabelLlm, ARunWhoseEveryRequestFailsFails) {
  m_server.set_default({401, R"({"error":{"message":"Incorrect API key provided"}})", {}, 0.0});
  const auto result = autolabel();
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_EQ(m_server.requests().size(), 3U) << "401 is not retried";
  const json metrics = last_run("metrics.json");
  EXPECT_EQ(metrics["status"], "failed");
  const std::string error = metrics["error"];
  EXPECT_NE(error.find("no image was labeled"), std::string::npos) << error;
  EXPECT_NE(error.find("http_401 3"), std::string::npos) << error;
  EXPECT_NE(error.find("Incorrect API key provided"), std::string::npos) << error;
  EXPECT_EQ(last_run("artifacts.json")["artifacts"]["llm"]["failures_by_reason"], json({{"http_401", 3}}));
}
