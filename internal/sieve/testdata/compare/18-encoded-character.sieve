require ["encoded-character", "fileinto"];
fileinto "${hex:52 65}${unicode:70}orts";
