require ["imap4flags", "fileinto"];
setflag "\\Seen";
addflag ["$Report", "\\Flagged"];
removeflag "\\Seen";
if hasflag :contains "report" { fileinto "Flagged"; }
