#include "storage/s3/s3_xml.h"

#include <cstdio>
#include <ctime>
#include <pugixml.hpp>
#include <sstream>

namespace vecpuff::s3 {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<uint64_t> ParseSize(std::string_view s) {
  if (s.empty() || s.size() > 19)
    return Status::Corruption("bad object size '" + std::string(s) + "'");
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return Status::Corruption("bad object size '" + std::string(s) + "'");
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

Status LoadDocument(std::string_view xml, std::string_view what, pugi::xml_document* doc) {
  pugi::xml_parse_result r = doc->load_buffer(xml.data(), xml.size());
  if (!r) {
    return Status::Corruption("S3 sent a malformed " + std::string(what) +
                              " document: " + r.description());
  }
  return Status::OK();
}

std::string XmlToString(const pugi::xml_document& doc) {
  std::ostringstream out;
  doc.save(out, "", pugi::format_raw | pugi::format_no_declaration);
  return out.str();
}

}  // namespace

Result<std::string> UrlDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%') {
      if (i + 2 >= s.size() || HexValue(s[i + 1]) < 0 || HexValue(s[i + 2]) < 0) {
        return Status::Corruption("bad percent-encoding in S3 listing: '" + std::string(s) + "'");
      }
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string NormalizeEtag(std::string_view etag) {
  if (etag.empty()) return std::string();
  if (etag.front() == '"' || etag.substr(0, 2) == "W/") return std::string(etag);
  return "\"" + std::string(etag) + "\"";
}

int64_t ParseIso8601Ms(std::string_view s) {
  int year, month, day, hour, minute;
  double second;
  const std::string str(s);
  if (std::sscanf(str.c_str(), "%d-%d-%dT%d:%d:%lf", &year, &month, &day, &hour, &minute,
                  &second) != 6) {
    return 0;
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = 0;
  const std::time_t t = timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return 0;
  return static_cast<int64_t>(t) * 1000 + static_cast<int64_t>(second * 1000.0 + 0.5);
}

Result<ListObjectsV2Page> ParseListObjectsV2(std::string_view xml, bool url_encoded) {
  pugi::xml_document doc;
  VECPUFF_RETURN_IF_ERROR(LoadDocument(xml, "ListObjectsV2", &doc));
  pugi::xml_node root = doc.child("ListBucketResult");
  if (!root) return Status::Corruption("S3 ListObjectsV2 response is not a ListBucketResult");
  auto decode = [&](const char* s) -> Result<std::string> {
    if (!url_encoded) return std::string(s);
    return UrlDecode(s);
  };
  ListObjectsV2Page page;
  page.is_truncated = std::string_view(root.child_value("IsTruncated")) == "true";
  page.next_continuation_token = root.child_value("NextContinuationToken");
  for (pugi::xml_node c : root.children("Contents")) {
    ObjectMeta meta;
    VECPUFF_ASSIGN_OR_RETURN(meta.key, decode(c.child_value("Key")));
    VECPUFF_ASSIGN_OR_RETURN(meta.size_bytes, ParseSize(c.child_value("Size")));
    meta.etag = NormalizeEtag(c.child_value("ETag"));
    meta.last_modified_ms = ParseIso8601Ms(c.child_value("LastModified"));
    if (meta.key.empty()) return Status::Corruption("S3 listed an object without a key");
    page.objects.push_back(std::move(meta));
  }
  for (pugi::xml_node p : root.children("CommonPrefixes")) {
    VECPUFF_ASSIGN_OR_RETURN(std::string prefix, decode(p.child_value("Prefix")));
    page.common_prefixes.push_back(std::move(prefix));
  }
  if (page.is_truncated && page.next_continuation_token.empty()) {
    return Status::Corruption("S3 listing is truncated but has no NextContinuationToken");
  }
  return page;
}

Result<std::string> ParseInitiateMultipartUpload(std::string_view xml) {
  pugi::xml_document doc;
  VECPUFF_RETURN_IF_ERROR(LoadDocument(xml, "InitiateMultipartUploadResult", &doc));
  std::string id = doc.child("InitiateMultipartUploadResult").child_value("UploadId");
  if (id.empty()) return Status::Corruption("S3 CreateMultipartUpload returned no UploadId");
  return id;
}

std::string BuildCompleteMultipartUpload(const std::vector<std::string>& part_etags) {
  pugi::xml_document doc;
  pugi::xml_node root = doc.append_child("CompleteMultipartUpload");
  root.append_attribute("xmlns") = "http://s3.amazonaws.com/doc/2006-03-01/";
  for (size_t i = 0; i < part_etags.size(); ++i) {
    pugi::xml_node part = root.append_child("Part");
    part.append_child("PartNumber").text().set(static_cast<unsigned long long>(i + 1));
    part.append_child("ETag").text().set(part_etags[i].c_str());
  }
  return XmlToString(doc);
}

Result<CompleteMultipartResult> ParseCompleteMultipartUpload(std::string_view xml) {
  pugi::xml_document doc;
  VECPUFF_RETURN_IF_ERROR(LoadDocument(xml, "CompleteMultipartUploadResult", &doc));
  CompleteMultipartResult result;
  if (pugi::xml_node error = doc.child("Error")) {
    result.is_error = true;
    result.error_code = error.child_value("Code");
    result.error_message = error.child_value("Message");
    return result;
  }
  pugi::xml_node root = doc.child("CompleteMultipartUploadResult");
  // moto names the document CompleteMultipartUploadResponse.
  if (!root) root = doc.child("CompleteMultipartUploadResponse");
  if (!root) return Status::Corruption("S3 CompleteMultipartUpload returned an unknown document");
  result.etag = NormalizeEtag(root.child_value("ETag"));
  return result;
}

std::string BuildDeleteObjects(const std::vector<std::string>& keys, size_t begin, size_t end) {
  pugi::xml_document doc;
  pugi::xml_node root = doc.append_child("Delete");
  root.append_attribute("xmlns") = "http://s3.amazonaws.com/doc/2006-03-01/";
  root.append_child("Quiet").text().set("true");
  for (size_t i = begin; i < end; ++i) {
    root.append_child("Object").append_child("Key").text().set(keys[i].c_str());
  }
  return XmlToString(doc);
}

Result<std::vector<DeleteError>> ParseDeleteObjectsErrors(std::string_view xml) {
  pugi::xml_document doc;
  VECPUFF_RETURN_IF_ERROR(LoadDocument(xml, "DeleteResult", &doc));
  pugi::xml_node root = doc.child("DeleteResult");
  if (!root) return Status::Corruption("S3 DeleteObjects returned an unknown document");
  std::vector<DeleteError> errors;
  for (pugi::xml_node e : root.children("Error")) {
    errors.push_back(
        DeleteError{e.child_value("Key"), e.child_value("Code"), e.child_value("Message")});
  }
  return errors;
}

}  // namespace vecpuff::s3
