require ["date", "fileinto", "relational"];
if date :originalzone :is "date" "hour" "09" { fileinto "NineLocal"; }
if date :zone "+0000" :is "date" "hour" "14" { fileinto "TwoUTC"; }
if date :is "date" "weekday" "4" { fileinto "Thursday"; }
if date :value "ge" :originalzone "date" "date" "2026-12-01" { fileinto "December"; }
