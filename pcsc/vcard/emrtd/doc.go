// Package emrtd is a virtual eMRTD chip, behaving as the station can observe
// such a card. Two command sets (Model.CommandSet):
//
//   - JMRTD (models ext144, short80): a Java Card with a GlobalPlatform card
//     manager and the open-source JMRTD passport applet (AID
//     A0000002471001), personalized in plain, read with BAC.
//   - cccd (model cccd): the chip of personalization/cccd.md, implemented
//     from the card's side: an MF with EF.CardAccess, personalization under
//     SCP03, keys generated on the chip, ACTIVATE FILE, then PACE, BAC, Chip
//     Authentication and ECDSA Active Authentication. See "The cccd model"
//     below.
//
// It implements vcard.Persistent, so the vpcd bridge and the in-process
// readers of package vcard can present it.
//
// Its TLV, BAC, PACE, Chip Authentication, SCP03, secure messaging (3DES and
// AES), KDFs, CMAC, check digit, padding, MAC and ISO/IEC 9796-2 code is its
// own: it shares none with package personalization, which must not be
// imported here (nor import this package outside tests). Only primitives
// come from elsewhere: crypto/aes, crypto/des, crypto/sha1, crypto/sha256,
// crypto/ecdsa, crypto/elliptic, math/big and the brainpool curves of
// internal/brainpool (the one curve implementation, like crypto/elliptic).
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
// # The cccd model
//
// ATR 3B 8B 80 01 80 73 C8 21 C0 56 43 43 43 44 31 B0 (T=1; historical
// bytes 80 73 C8 21 C0 "VCCCD1": command chaining, extended Lc/Le), 144 KiB
// EEPROM (512 bytes of it for keys), 2048 bytes of command and response
// data, CPLC as the other models (IC fabricator 5643, IC type CCCD; the
// serial's 10 bytes, CPLC 0-3 ‖ 12-17, are the SCP03 key diversification
// data). Create one with New(ModelCCCD, WithSCP03Master(m)), m from
// NewSCP03Master(kvn, enc, mac, dek); without the option the chip
// diversifies from TestSCP03Master (KVN 30, ENC = MAC = DEK = 40 41 … 4F).
//
// Life cycle (cccd.md §1): personalization, then operational for good after
// ACTIVATE FILE (Locked reports it). After power-on and reset the MF is the
// current DF; the card manager (GET DATA CPLC, answered everywhere, in every
// state) and the eMRTD application are selectable by AID. Power-off and
// reset end every session.
//
// Files (cccd.md §2): EF.CardAccess (011C) is the MF's, created there
// whatever DF is current and selectable by FID from anywhere, readable in
// plain in every state. EF.COM, EF.SOD and DG1-DG16 are the application's:
// inside SCP03 before activation, under secure messaging after (DG3 and
// DG4 never: no Terminal Authentication). CREATE FILE takes an FCP
// template (ISO/IEC 7816-4 §7.4), parsed strictly (see createFileFCP); the
// new EF is the current EF. Sizes 1-32767 (15-bit offsets).
//
// Personalization (cccd.md §3-4), inside an SCP03 session only (6982 in
// plain; 6985 for every personalization command once operational, plain or
// protected):
//
//	INITIALIZE UPDATE  80 50 KVN 00 08 <host challenge> 00, plain, with the
//	                   eMRTD application selected (its own security domain;
//	                   at the MF or the card manager 6D00): diversification
//	                   data ‖ KVN ‖ 03 ‖ 70 ‖ card challenge ‖ card
//	                   cryptogram ‖ sequence counter. The counter (3 bytes)
//	                   goes up per INITIALIZE UPDATE and persists; the card
//	                   challenge is KDF(K-ENC, 02, 64, counter ‖ A0000002471001).
//	                   Unknown KVN 6A88; P2≠00 6A86; Lc≠8 6700; Le<32 6C20.
//	EXTERNAL AUTH.     84 82 level 00 10 <host cryptogram> <C-MAC>: levels 13
//	                   and 33 only (others 6982); wrong C-MAC or cryptogram
//	                   6300; it consumes the INITIALIZE UPDATE.
//	wrapped commands   CLA 04 (ISO) or 84 (GP), GP Amd D §6.2: C-MAC over
//	                   chaining value ‖ header with the Lc as sent (3 bytes
//	                   when extended) ‖ data; C-DEC with IV = E(S-ENC,
//	                   counter), the counter counting every command from 1;
//	                   R-MAC over chaining value ‖ data ‖ SW; R-ENC with IV =
//	                   E(S-ENC, 80 ‖ counter). An error SW (not 9000, 62xx,
//	                   63xx) comes back alone. Le counts the plain answer
//	                   (as GP cards size it); the wrapped answer fits
//	                   MaxResponseData: READ BINARY gives at most 2031 plain
//	                   bytes at level 33, and a write carries at most 2024
//	                   (16 bytes of padding room and 8 of C-MAC). A wrong
//	                   C-MAC or padding 6982 and the session closes; a plain
//	                   command during the session 6982 and it closes (a plain
//	                   SELECT by AID or INITIALIZE UPDATE also closes it, and
//	                   runs). Without a session a wrapped command 6882.
//	CREATE FILE        00 E0 00 00 62 L {80 size, 82 01 01, 83 FID [, 8C …]}:
//	                   6A85 the 62 object does not fill Nc; 6A80 anything
//	                   wrong inside (unknown or repeated tag, a DF, size 0 or
//	                   >32767, a FID outside 0101-0110, 011C-011E); 6A89
//	                   exists; 6A84 no room; P1P2≠0000 6A86.
//	UPDATE/READ BINARY as the JMRTD applet (6986 no EF, 6B00 beyond, 6282
//	                   short, Faults apply).
//	GENERATE ASYM.     00 47 80 00 {84 01 ref, 06 curve OID} 00 → 7F49 {06
//	KEY PAIR           OID, 86 04‖X‖Y}: ref 01 Chip Authentication (ECDH), 02
//	                   Active Authentication (ECDSA); brainpoolP256r1 or
//	                   P-256. 6A80 malformed or unknown curve; 6A88 another
//	                   reference; 6A89 key exists; 6A86 P1P2≠8000; Le short
//	                   6CXX. The private key never leaves the chip.
//	PUT DATA           00 DA 00 62 (MRZ: check digits, MRZ_information, BAC
//	                   keys, K_π computed by the chip) and 00 DA 00 63 {04 06
//	                   <CAN>}: 6A80 outside the MRZ alphabet / not 6 digits;
//	                   other P1P2 6A86.
//	ACTIVATE FILE      00 44 00 00: 6985 without EF.CardAccess, EF.COM,
//	                   EF.SOD, both keys, the MRZ and the CAN.
//	INTERNAL AUTH.     also inside SCP03 before activation (to try the key).
//
// Readers (cccd.md §5), once operational:
//
//	PACE               MSE:Set AT 00 22 C1 A4 {80 id-PACE-ECDH-GM-AES-CBC-
//	                   CMAC-128, 83 01 (MRZ) | 02 (CAN), [84 0D]} in plain with
//	                   the MF, card manager or application current (7F4C
//	                   ignored; another OID or parameter 6A80; another
//	                   password 6A88); GENERAL AUTHENTICATE 10 86 ×3 then 00
//	                   86 (a chained step 4 6883, an unchained step 1-3 6985,
//	                   bad data or point 6A80, wrong T_PCD 6300, Le short
//	                   6CXX); FE2OS keeps leading zeros; then AES secure
//	                   messaging, SSC 0. After PACE at the MF the application
//	                   is selected under SM (the session stays).
//	BAC                with the application selected, as the JMRTD applet.
//	Chip Auth.         under SM: MSE:Set AT 00 22 41 A4 {80 id-CA-ECDH-AES-
//	                   CBC-CMAC-128 [, 84 01 01]} (other OID 6A80, other key
//	                   6A88), GENERAL AUTHENTICATE {7C {80 point}} → 7C 00
//	                   under the current keys, then AES SM with the CA keys,
//	                   SSC 0; at any point of a PACE or BAC session, again
//	                   too. In plain 6982; GA without MSE 6985.
//	Active Auth.       INTERNAL AUTHENTICATE 00 88 00 00 08 <challenge> 00
//	                   under SM → r ‖ s over SHA-256(challenge), key 02
//	                   (plain 6982).
//	other              SELECT of the application's EFs, READ BINARY in plain
//	                   6982; DG3/DG4 6982; SELECT P1 00 (MF, 3F00) 6D00 as real
//	                   CCCD chips (6A82 before activation); GET CHALLENGE and
//	                   EXTERNAL AUTHENTICATE under SM 6982 (Terminal
//	                   Authentication); PACE again under SM 6985; GET
//	                   CHALLENGE at the MF 6985 (select the application).
//	                   Errors under SM come back protected.
//
// State detection: a blank chip answers SELECT EF.CardAccess (011C) and,
// in the application, SELECT EF.COM with 6A82 (INITIALIZE UPDATE does not
// count as a write); operational chips answer 6982 to a plain SELECT of
// EF.COM and 6D00 to SELECT MF.
//
// Known answers: the SCP03 card side is pinned by the GP Amd D vectors
// (testdata/gp-scp03.json, recorded with an eUICC: the pseudo-random card
// challenge matches with its ISD-R AID A0000005591010FFFFFFFF8900000100,
// which the test sets), PACE by ICAO 9303-11 Appendix G.1 from the chip's
// side, AES-CMAC by RFC 4493.
//
// Latency: key pair generation, the slowest step of a real chip, costs
// PerECKeyGen = 200 ms and every other 256-bit EC scalar multiplication or
// ECDSA signature PerECOp = 150 ms, from ECTester's measurements of Java
// Cards (crocs-muni, https://neuromancer.sk/ECTester/: 256-bit ECDH 150-266
// ms, ECDSA signing 145-183 ms on NXP JCOP, Infineon, G&D and Athena cards;
// see LatencyRealistic).
//
// # Faults, latency, persistence
//
// See Faults, Latency and Chip.MarshalJSON / Load. A saved cccd chip keeps
// its life cycle, CAN, generated keys (in clear: a test chip), SCP03 static
// keys and sequence counter; EF.CardAccess is saved among the files.
package emrtd
