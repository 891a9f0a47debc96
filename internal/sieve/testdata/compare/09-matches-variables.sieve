require ["variables", "fileinto"];
if header :matches "subject" "Weekly * for *" {
  fileinto "${1}-${2}";
}
