#include "storage/s3/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <ctime>

namespace vecpuff::s3 {
namespace {

std::string Hex(const unsigned char* data, size_t n) {
  static const char* kDigits = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 0xf];
  }
  return out;
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Header values are signed trimmed, with inner runs of spaces folded to one.
std::string TrimValue(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

struct Timestamps {
  std::string amz_date;  // 20130524T000000Z
  std::string date;      // 20130524
};

Timestamps Format(std::chrono::system_clock::time_point now) {
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  Timestamps ts;
  ts.amz_date = buf;
  ts.date = ts.amz_date.substr(0, 8);
  return ts;
}

}  // namespace

std::string UriEncode(std::string_view s, bool encode_slash) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~' || (c == '/' && !encode_slash)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

std::string CanonicalUri(std::string_view raw_path) {
  if (raw_path.empty()) return "/";
  return UriEncode(raw_path, /*encode_slash=*/false);
}

std::string CanonicalQueryString(const std::vector<std::pair<std::string, std::string>>& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [k, v] : query) encoded.emplace_back(UriEncode(k, true), UriEncode(v, true));
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [k, v] : encoded) {
    if (!out.empty()) out.push_back('&');
    out += k;
    out.push_back('=');
    out += v;
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return Hex(digest, sizeof(digest));
}

SigningDebug SignRequestDebug(const SigningRequest& request, const Credentials& credentials,
                              std::string_view region, std::string_view service,
                              std::chrono::system_clock::time_point now) {
  const Timestamps ts = Format(now);

  // Canonical headers: lowercase names, trimmed values, sorted by name; duplicates joined.
  std::vector<std::pair<std::string, std::string>> headers;
  headers.emplace_back("host", TrimValue(request.host));
  headers.emplace_back("x-amz-content-sha256", request.payload_sha256);
  headers.emplace_back("x-amz-date", ts.amz_date);
  if (!credentials.session_token.empty()) {
    headers.emplace_back("x-amz-security-token", credentials.session_token);
  }
  for (const auto& [k, v] : request.headers) headers.emplace_back(Lower(k), TrimValue(v));
  std::stable_sort(headers.begin(), headers.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string canonical_headers, signed_headers;
  for (size_t i = 0; i < headers.size(); ++i) {
    if (i > 0 && headers[i].first == headers[i - 1].first) {
      // Same name again: append the value to the previous line, comma-separated.
      canonical_headers.pop_back();  // '\n'
      canonical_headers += "," + headers[i].second + "\n";
      continue;
    }
    canonical_headers += headers[i].first + ":" + headers[i].second + "\n";
    if (!signed_headers.empty()) signed_headers.push_back(';');
    signed_headers += headers[i].first;
  }

  SigningDebug d;
  d.canonical_request = request.method + "\n" + CanonicalUri(request.raw_path) + "\n" +
                        CanonicalQueryString(request.query) + "\n" + canonical_headers + "\n" +
                        signed_headers + "\n" + request.payload_sha256;
  const std::string scope =
      ts.date + "/" + std::string(region) + "/" + std::string(service) + "/aws4_request";
  d.string_to_sign =
      "AWS4-HMAC-SHA256\n" + ts.amz_date + "\n" + scope + "\n" + Sha256Hex(d.canonical_request);
  std::string key = HmacSha256("AWS4" + credentials.secret_access_key, ts.date);
  key = HmacSha256(key, region);
  key = HmacSha256(key, service);
  key = HmacSha256(key, "aws4_request");
  const std::string sig = HmacSha256(key, d.string_to_sign);
  d.signature = Hex(reinterpret_cast<const unsigned char*>(sig.data()), sig.size());
  return d;
}

HeaderList SignRequest(const SigningRequest& request, const Credentials& credentials,
                       std::string_view region, std::string_view service,
                       std::chrono::system_clock::time_point now) {
  const Timestamps ts = Format(now);
  SigningDebug d = SignRequestDebug(request, credentials, region, service, now);
  // Recompute the signed header list (cheap) for the Authorization header.
  std::vector<std::string> names = {"host", "x-amz-content-sha256", "x-amz-date"};
  if (!credentials.session_token.empty()) names.push_back("x-amz-security-token");
  for (const auto& [k, v] : request.headers) names.push_back(Lower(k));
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::string signed_headers;
  for (const std::string& n : names) {
    if (!signed_headers.empty()) signed_headers.push_back(';');
    signed_headers += n;
  }
  HeaderList out;
  out.emplace_back("Authorization", "AWS4-HMAC-SHA256 Credential=" + credentials.access_key_id +
                                        "/" + ts.date + "/" + std::string(region) + "/" +
                                        std::string(service) + "/aws4_request, SignedHeaders=" +
                                        signed_headers + ", Signature=" + d.signature);
  out.emplace_back("x-amz-date", ts.amz_date);
  out.emplace_back("x-amz-content-sha256", request.payload_sha256);
  if (!credentials.session_token.empty()) {
    out.emplace_back("x-amz-security-token", credentials.session_token);
  }
  return out;
}

}  // namespace vecpuff::s3
