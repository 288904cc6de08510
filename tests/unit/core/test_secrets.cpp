// Passwords in every form a URL or connection string carries them are redacted; the rest of
// the text is left as it was.
#include <gtest/gtest.h>

#include "vision/core/secrets.hpp"

using vision::redact_url_secrets;

TEST(Secrets, UrlPasswordsInEveryFormAreRedacted) {
  EXPECT_EQ(redact_url_secrets("postgresql://u:secret@db:5432/stats"), "postgresql://u:***@db:5432/stats");
  EXPECT_EQ(redact_url_secrets("rtsp://admin:p@ss:w0rd@10.0.0.7:554/stream1"), "rtsp://admin:***@10.0.0.7:554/stream1");
  EXPECT_EQ(redact_url_secrets("postgresql://db/stats?user=u&password=secret&sslmode=require"),
            "postgresql://db/stats?user=u&password=***&sslmode=require");
  EXPECT_EQ(redact_url_secrets("http://cam/mjpeg?TOKEN=abc#x"), "http://cam/mjpeg?TOKEN=***#x");
  EXPECT_EQ(redact_url_secrets("host=db password=secret dbname=x"), "host=db password=*** dbname=x");
  EXPECT_EQ(redact_url_secrets("host=db password='se cret' dbname=x"), "host=db password=*** dbname=x");
  EXPECT_EQ(redact_url_secrets("host=db sslpassword=k"), "host=db sslpassword=***");
}

TEST(Secrets, TextWithoutSecretsIsLeftAlone) {
  for (const char* text : {"postgresql://u@db/stats", "http://127.0.0.1:7797/api/v1/push", "rtsp://10.0.0.7:554/s?channel=1",
                           "host=db dbname=x", "", "/path/with=equals"}) {
    EXPECT_EQ(redact_url_secrets(text), text);
  }
}

TEST(Secrets, EnvironmentNamesFollowTheKey) {
  EXPECT_EQ(vision::secret_env_name("deploy.statistics.api_key"), "VISION_DEPLOY_STATISTICS_API_KEY");
  EXPECT_EQ(vision::secret_env_name("deploy.remote.ingest_api_key"), "VISION_DEPLOY_REMOTE_INGEST_API_KEY");
}
