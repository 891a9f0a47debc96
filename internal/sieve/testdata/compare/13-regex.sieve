require ["regex", "fileinto", "variables"];
if header :regex "subject" "for ([A-Z][a-z]+)$" { fileinto "Month-${1}"; }
if header :regex "message-id" "^<weekly-[0-9]+@" { fileinto "Weekly"; }
