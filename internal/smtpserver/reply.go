package smtpserver

import (
	"github.com/emersion/go-smtp"
)

// reply is a protocol error: the client sees code, enhanced code and text;
// the log gets the cause separately.
func reply(code int, c1, c2, c3 int, text string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{c1, c2, c3}, Message: text}
}

// Replies, with the RFC that asks for them. RFC 3463 defines the enhanced codes.
var (
	// RFC 6409 4.3: MAIL before AUTH on submission.
	errAuthRequired = reply(530, 5, 7, 0, "Authentication required")
	// RFC 4954 4: plaintext mechanism without TLS.
	errEncryptionRequired = reply(538, 5, 7, 11, "Encryption required for requested authentication mechanism")
	errAuthNotOffered     = reply(502, 5, 5, 1, "AUTH not available on this port")
	errAuthInTransaction  = reply(503, 5, 5, 1, "AUTH not allowed during a mail transaction")
	errAuthMechanism      = reply(504, 5, 5, 4, "Unrecognized authentication mechanism")
	errAuthFailed         = reply(535, 5, 7, 8, "Authentication credentials invalid")
	errAuthMalformed      = reply(501, 5, 5, 2, "Malformed authentication exchange")
	errAuthTemporary      = reply(454, 4, 7, 0, "Temporary authentication failure")
	errAuthTooMany        = reply(421, 4, 7, 0, "Too many failed authentications, closing connection")

	errSenderSyntax  = reply(553, 5, 1, 7, "Bad sender address syntax")
	errRcptSyntax    = reply(553, 5, 1, 3, "Bad recipient address syntax")
	errNeedSMTPUTF8  = reply(553, 5, 6, 7, "Non-ASCII address needs SMTPUTF8") // RFC 6531 3.5
	errSenderNotOwn  = reply(553, 5, 7, 1, "Sender address not owned by the authenticated user")
	errFromNotOwn    = reply(553, 5, 7, 1, "From header address not owned by the authenticated user")
	errNoFrom        = reply(550, 5, 6, 0, "Message has no valid From header")
	errRelayDenied   = reply(554, 5, 7, 1, "Relay access denied")
	errUnknownUser   = reply(550, 5, 1, 1, "No such user here")
	errDisabled      = reply(550, 5, 2, 1, "Mailbox disabled")
	errAliasLoop     = reply(550, 5, 4, 6, "Routing loop detected")
	errQuota         = reply(552, 5, 2, 2, "Mailbox full")
	errTooManyBad    = reply(421, 4, 7, 0, "Too many invalid recipients, closing connection")
	errNoStorage     = reply(452, 4, 3, 1, "Insufficient system storage")
	errUnavailable   = reply(451, 4, 3, 0, "Temporary local problem, try again later")
	errShuttingDown  = reply(421, 4, 3, 2, "Service shutting down, try again later")
	errNoValidRcpts  = reply(554, 5, 5, 1, "No valid recipients")
	errTooLarge      = reply(552, 5, 3, 4, "Message size exceeds fixed limit")
	errHeaderTooBig  = reply(552, 5, 3, 4, "Header section too large")
	errMailLoop      = reply(554, 5, 4, 6, "Too many Received headers: mail loop")
	errBareLineEnd   = reply(554, 5, 6, 0, "Bare CR or LF in message: CRLF line endings only (RFC 5321 2.3.8)")
	errNULByte       = reply(554, 5, 6, 0, "NUL byte in message (RFC 2045 2.8)")
	errCheckTemp     = reply(451, 4, 7, 0, "Message could not be checked, try again later")
	errCheckReject   = reply(550, 5, 7, 1, "Message rejected by policy")
	errHELOSyntax    = reply(501, 5, 5, 2, "Invalid HELO/EHLO argument")
	errInternalPanic = reply(421, 4, 0, 0, "Internal server error, closing connection")
)
