require ["index", "fileinto"];
if header :index 1 :contains "received" "mx.example.org by mx.example.com" { fileinto "First"; }
if header :index 1 :last :contains "received" "client" { fileinto "Last"; }
