require ["relational", "comparator-i;ascii-numeric", "fileinto"];
if header :value "gt" :comparator "i;ascii-numeric" "x-spam-score" "10" { fileinto "Spam"; }
if address :count "eq" :comparator "i;ascii-numeric" ["to", "cc"] "3" { fileinto "Three"; }
if header :value "lt" :comparator "i;ascii-numeric" "x-priority" "1" { fileinto "Never"; }
