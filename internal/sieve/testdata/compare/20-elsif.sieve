require "fileinto";
if header :contains "subject" "daily" { fileinto "Daily"; }
elsif header :contains "subject" "weekly" { fileinto "Weekly"; }
else { fileinto "Other"; }
