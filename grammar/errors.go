package grammar

import "fmt"

// ErrCode classifies a parse error. Shell-level codes print netsh's own
// texts followed by the command's usage; value codes print one
// `ERR IPsec[<IPsecCode>] : <text>` line, as the ipsec helper does.
type ErrCode uint8

// Error codes. The numbers behind the value codes are in ipsecCodes.
const (
	ErrCmdNotFound  ErrCode = iota + 1 // ERROR_CMD_NOT_FOUND (15004)
	ErrInvalidArg                      // ERROR_INVALID_OPTION_TAG (15009)
	ErrMissing                         // ERROR_MISSING_OPTION (15011)
	ErrSyntax                          // ERROR_INVALID_SYNTAX (15001), also bad enum values (15014)
	ErrDuplicateTag                    // ERROR_TAG_ALREADY_PRESENT (15008)

	ErrBadAddress
	ErrBadMask
	ErrBadPort
	ErrBadProtocol
	ErrBadMMSec
	ErrBadQMSec
	ErrBadAuth
	ErrBadGUID
	ErrServerType
	ErrPortProtocol

	// `set config` values (ParseConfigValue).
	ErrConfigDiagnostics
	ErrConfigIKELogging
	ErrConfigCRLCheck
	ErrConfigLogInterval
	ErrConfigExempt
	ErrConfigBootMode
	ErrConfigBootExempt
	ErrConfigProperty
)

// ipsecCodes are this project's codes for value errors. Windows' numbers
// for these situations are not known (reference 6.2); they take 05050-05059
// and, for `set config` values, 05060-05066 and 05069, clear of the known
// codes (05067 and 05068 are netsh's "No Filter Lists/Actions in Policy
// Store.") and of package store's (05080-05095).
var ipsecCodes = map[ErrCode]int{
	ErrBadAddress:   5050,
	ErrBadMask:      5051,
	ErrBadPort:      5052,
	ErrBadProtocol:  5053,
	ErrBadMMSec:     5054,
	ErrBadQMSec:     5055,
	ErrBadAuth:      5056,
	ErrBadGUID:      5057,
	ErrServerType:   5058,
	ErrPortProtocol: 5059,

	ErrConfigDiagnostics: 5060,
	ErrConfigIKELogging:  5061,
	ErrConfigCRLCheck:    5062,
	ErrConfigLogInterval: 5063,
	ErrConfigExempt:      5064,
	ErrConfigBootMode:    5065,
	ErrConfigBootExempt:  5066,
	ErrConfigProperty:    5069,
}

// Texts of the shell-level messages (reference 6.1).
const (
	MsgSyntax   = "The syntax supplied for this command is not valid. Check help for the correct syntax."
	MsgMissing1 = "One or more essential parameters were not entered."
	MsgMissing2 = "Verify the required parameters, and reenter them."
)

// Error is a parse error with the position of the offending token.
type Error struct {
	Code  ErrCode
	Pos   Position // start of the offending token
	Token string   // the offending token as typed
	Msg   string   // for value errors: the text after "ERR IPsec[...] : "
	Cmd   *Command // the command whose usage follows, for shell-level errors
	Line  string   // the whole input line
}

// IPsecCode returns the ERR IPsec number of a value error, or 0 for a
// shell-level error.
func (e *Error) IPsecCode() int { return ipsecCodes[e.Code] }

// ShowUsage reports whether netsh prints the command's usage after the
// message.
func (e *Error) ShowUsage() bool {
	switch e.Code {
	case ErrInvalidArg, ErrMissing, ErrSyntax, ErrDuplicateTag:
		return e.Cmd != nil
	}
	return false
}

// Error returns the message lines without the usage block.
func (e *Error) Error() string {
	switch e.Code {
	case ErrCmdNotFound:
		return fmt.Sprintf("The following command was not found: %s.", e.Token)
	case ErrInvalidArg:
		return fmt.Sprintf("'%s' is not a valid argument for this command.\n%s", e.Token, MsgSyntax)
	case ErrMissing:
		return MsgMissing1 + "\n" + MsgMissing2 + "\n" + MsgSyntax
	case ErrSyntax:
		return MsgSyntax
	case ErrDuplicateTag:
		return fmt.Sprintf("The tag '%s' was given more than once.\n%s", e.Token, MsgSyntax)
	}
	return fmt.Sprintf("ERR IPsec[%05d] : %s", e.IPsecCode(), e.Msg)
}
