// Package emrtd is a virtual eMRTD chip: a Java Card with a GlobalPlatform
// card manager and the open-source JMRTD passport applet (AID A0000002471001),
// behaving as the station can observe such a card. It implements
// vcard.Persistent, so the vpcd bridge and the in-process readers of package
// vcard can present it.
//
// Its TLV, BAC, secure messaging, check digit, padding, MAC and ISO/IEC 9796-2
// code is its own: it shares none with package personalization, which must
// not be imported here (nor import this package outside tests).
//
// # Applications
//
// After power-on and reset the card manager is selected. SELECT by AID
// (00 A4 04 00|0C Lc AID [Le]) selects the card manager (A000000151000000 or
// A000000003000000; P2=00 returns an FCI, 6CXX when Le is too short) or the
// passport applet (no FCI); any other AID answers 6A82. Selecting an
// application clears the file selection and ends secure messaging. The card
// manager answers GET DATA 80|00 CA 9F 7F with 9F 7F 2A <CPLC> (Le short of
// 45 bytes 6C2D, other tags 6A88, other INS 6D00). The card has no MF and
// no file outside the applet: while the card manager is selected, SELECT by
// file identifier (P1 00/02; EF.CardAccess 011C, which readers try first;
// the MF 3F00 or P1 00 without data) answers 6A82, other P1/P2 6A86.
//
// Class bytes an application does not take (ISO/IEC 7816-4 §5.4.1): a
// logical channel other than the basic one 6881 (as the Java Card runtime
// answers), a secure messaging indication it does not support 6882,
// command chaining where not supported 6884, other classes 6E00.
//
// # The passport applet
//
// Before LOCK (PUT DATA DE AD) everything is plain: CREATE FILE, SELECT
// FILE, UPDATE BINARY, READ BINARY, PUT DATA (MRZ key seed, AA modulus, AA
// private exponent), INTERNAL AUTHENTICATE. After lock CREATE FILE, UPDATE
// BINARY and PUT DATA answer 6985 (plain or protected), SELECT FILE, READ
// BINARY and INTERNAL AUTHENTICATE need BAC secure messaging (plain: 6982),
// and DG3/DG4 cannot be selected at all (6982: they need Terminal
// Authentication, which this chip does not offer).
//
// Status words where the brief left room, or where this chip departs from the
// JMRTD applet's code (every one of them the meaning ISO/IEC 7816-4:2020
// §5.6 Table 6 gives; TestStatusWordsBeforeAuthentication lists those before
// BAC):
//
//	CREATE FILE   Lc≠6: 6700; byte 2≠04: 6A85; byte 1≠63: 6A80 (JMRTD: 6984);
//	              size 0 or >32767: 6A80; FID outside the applet's file system
//	              (0101-010F, 011C, 011D, 011E): 6A80; FID exists: 6A89;
//	              no room: 6A84; P1P2≠0000: 6A86
//	SELECT FILE   P1 ∉ {00,02} or P2 ∉ {00,0C}: 6A86; Lc≠2: 6700; absent:
//	              6A82 (selection cleared); P2=00 answers without FCI
//	READ BINARY   no EF selected: 6986; P1 b8=1 (SFI): 6A86; offset ≥ size:
//	              6B00; past the end: remaining bytes + 6282; a response
//	              larger than the transport allows is cut short with 9000
//	UPDATE BINARY no EF selected: 6986; beyond the file: 6B00 (nothing
//	              written); empty data: 6700
//	PUT DATA      P1P2 other than 0060/0061/0062/DEAD: 6A86; malformed TLV
//	              or MRZ field outside the MRZ alphabet: 6A80; AA modulus not
//	              a whole number of bytes, below 1024 or above the model's
//	              MaxAAKeyBits (a 2048-bit key on short80, even chained): 6A80
//	LOCK          refused with 6985 without the MRZ key seed, or with only
//	              one half of the AA key (JMRTD locks unconditionally)
//	GET CHALLENGE no MRZ key seed: 6982; Le≠08: 6C08; no Le or a data
//	              field: 6700; under SM: 6982
//	EXT. AUTH.    no challenge pending: 6982; Lc≠40: 6700; Le<28: 6C28
//	              (nothing consumed); wrong MAC or RND.IC: 6300 (JMRTD:
//	              6982); the challenge is single-use
//	INT. AUTH.    no complete AA key: 6982; after lock in plain: 6982; before
//	              lock it also works in plain (JMRTD always wants BAC);
//	              Lc≠8: 6700; signature larger than Ne: 6CXX in plain, 6700
//	              under SM; larger than the response room (2048-bit key
//	              under SM with a short Le): 6700
//	SM            protected APDU without a session: 6882; MAC wrong or object
//	              malformed: 6988; no '8E': 6987; plain APDU while the
//	              session is up: 6987. The three errors end the session (answered
//	              in plain); the chip needs BAC again
//	chaining      CLA b5 on an INS other than PUT DATA: 6884; more than 4096
//	              bytes accumulated: 6700
//	APDU          malformed length, extended APDU on a short-only model, or
//	              Nc > MaxCommandData: 6700; CLA ∉ {00,10,0C,1C}: 6881
//	              (logical channel), 6882 (other SM), 6E00 (other class);
//	              unknown INS: 6D00
//
// Error status words under secure messaging (other than the SM errors) come
// back protected: '99' carries the status word, '8E' the MAC, and SW1 SW2 in
// plain repeat it (as the JMRTD applet does).
//
// # Sizes the station must respect
//
// One UPDATE BINARY carries at most MaxCommandData bytes (255 on short80,
// 2048 on ext144). A plain READ BINARY returns at most MaxResponseData bytes
// (256 / 2048). Under secure messaging the protected response must fit the
// outer Ne (256 with a short Le 00) and MaxResponseData: a short READ BINARY
// returns at most 231 plain bytes per command (ask for ≤ 231; JMRTD's host
// asks for 223), an extended one on ext144 at most 2023. A 2048-bit AA
// signature under SM needs an extended Le (only ext144 holds such a key).
//
// # State detection
//
// Blank or not: SELECT the applet, then a plain SELECT FILE of EF.COM
// (011E) answers 6A82 on a blank chip, 9000 once the file exists before
// lock, and 6982 once locked. GET CHALLENGE in plain answers 6982 while no
// MRZ key seed has been stored (it does not change anything persistent).
//
// # Faults, latency, persistence
//
// See Faults, Latency and Chip.MarshalJSON / Load.
package emrtd
