// Throwaway TLS material for tests, made with the `openssl` command-line tool (Debian's
// `openssl` package, installed by scripts/setup.sh): a CA, a server certificate it signs for
// 127.0.0.1 (IP subject alternative name) and "localhost" (DNS), and a second, unrelated CA
// that must not verify it. Header-only so that any test binary can use it without linking.
#pragma once

#include <cstdlib>
#include <fstream>
#include <string>

namespace weft::testing {

struct TestCertificates {
  std::string ca_file;        // PEM: the CA that signed cert_file
  std::string other_ca_file;  // PEM: a CA that did not
  std::string cert_file;      // PEM: the server's certificate (127.0.0.1, localhost)
  std::string key_file;       // PEM: its private key
  std::string error;          // why generation failed, "" when it worked
};

// Writes the files into `dir` (which must exist). P-256 keys: quick to make, 2-day validity.
inline TestCertificates MakeTestCertificates(const std::string& dir) {
  TestCertificates c{dir + "/ca.pem", dir + "/other-ca.pem", dir + "/server.pem", dir + "/server.key", ""};
  const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  const std::string script =
      "set -e; cd '" + dir + "'; exec >openssl.log 2>&1\n"
      "openssl req -x509 " + key + " -keyout ca.key -out ca.pem -days 2 -subj /CN=weft-test-ca\n"
      "openssl req -x509 " + key + " -keyout other-ca.key -out other-ca.pem -days 2 -subj /CN=weft-other-ca\n"
      "openssl req " + key + " -keyout server.key -out server.csr -subj /CN=127.0.0.1\n"
      "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nbasicConstraints=CA:FALSE\\n"
      "extendedKeyUsage=serverAuth\\n' > server.ext\n"
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 "
      "-extfile server.ext\n";
  {
    std::ofstream out(dir + "/make-certificates.sh");
    out << script;
  }
  const std::string command = "sh '" + dir + "/make-certificates.sh'";
  if (std::system(command.c_str()) != 0) c.error = "openssl failed (see " + dir + "/openssl.log)";
  return c;
}

}  // namespace weft::testing
