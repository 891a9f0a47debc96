require "fileinto";
if header :is :comparator "i;octet" "subject" "weekly report for december" { fileinto "Octet"; }
if header :is "subject" "weekly report for december" { fileinto "Casemap"; }
