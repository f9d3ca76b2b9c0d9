package main

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cccd-station/station/biometrics"
	"github.com/cccd-station/station/personalization/lds"
	"github.com/cccd-station/station/personalization/pki"
)

func init() {
	register(command{
		name:    "decode",
		summary: "print a chip image as a person reads it, and check its EF.SOD",
		run:     runDecode,
	})
}

func runDecode(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("decode", stderr)
	csca := fs.String("csca", "", "CSCA certificate(s) to check the Document Signer against (PEM)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError("usage: stationctl decode [--csca FILE] DIR")
	}
	files, err := lds.ReadDir(fs.Arg(0))
	if err != nil {
		return err
	}
	var failures []string
	fail := func(format string, a ...any) {
		msg := fmt.Sprintf(format, a...)
		failures = append(failures, msg)
		fmt.Fprintln(stdout, "  FAIL "+msg)
	}

	if b, ok := files[lds.FIDCOM]; ok {
		c, err := lds.DecodeCOM(b)
		if err != nil {
			fail("EF.COM: %v", err)
		} else {
			fmt.Fprintf(stdout, "EF.COM   LDS %s, Unicode %s, data groups:", c.LDSVersion, c.UnicodeVersion)
			for _, t := range c.Tags {
				if g, ok := lds.DataGroupByTag(t); ok {
					fmt.Fprintf(stdout, " %s", g.Name)
				} else {
					fmt.Fprintf(stdout, " tag-%X", uint32(t))
				}
			}
			fmt.Fprintln(stdout)
		}
	}
	if b, ok := files[lds.FIDDG1]; ok {
		m, err := lds.DecodeDG1(b)
		if err != nil {
			fail("DG1: %v", err)
		} else {
			l, _ := m.Lines()
			fmt.Fprintf(stdout, "DG1 MRZ  %s\n         %s\n         %s\n", l[0], l[1], l[2])
		}
	}
	if b, ok := files[lds.FIDDG2]; ok {
		content, err := lds.UnwrapDG(b, lds.TagDG2)
		var faces []*biometrics.FaceRecord
		if err == nil {
			faces, err = biometrics.DecodeDG2(content)
		}
		if err != nil {
			fail("DG2: %v", err)
		}
		for _, f := range faces {
			fmt.Fprintf(stdout, "DG2 face %v\n", f)
		}
	}
	if b, ok := files[lds.FIDDG3]; ok {
		content, err := lds.UnwrapDG(b, lds.TagDG3)
		var fingers []*biometrics.FingerRecord
		if err == nil {
			fingers, err = biometrics.DecodeDG3(content)
		}
		if err != nil {
			fail("DG3: %v", err)
		}
		for _, f := range fingers {
			fmt.Fprintf(stdout, "DG3      %v\n", f)
		}
	}
	if b, ok := files[lds.FIDDG13]; ok {
		d, err := lds.DecodeDG13(b)
		if err != nil {
			fail("DG13: %v", err)
		} else {
			rows := []struct{ n, label, v string }{
				{"1", "Số định danh / personal ID", d.PersonalID},
				{"2", "Họ và tên / full name", d.FullName},
				{"3", "Ngày sinh / date of birth", d.DateOfBirth},
				{"4", "Giới tính / sex", d.Sex},
				{"5", "Quốc tịch / nationality", d.Nationality},
				{"6", "Dân tộc / ethnicity", d.Ethnicity},
				{"7", "Tôn giáo / religion", d.Religion},
				{"8", "Quê quán / place of origin", d.PlaceOfOrigin},
				{"9", "Nơi thường trú / residence", d.PlaceOfResidence},
				{"10", "Đặc điểm nhận dạng / marks", d.IdentifyingMarks},
				{"11", "Ngày cấp / issue date", d.IssueDate},
				{"12", "Có giá trị đến / expiry", d.ExpiryDate},
				{"13", "Cha / father", d.FatherName},
				{"13", "Mẹ / mother", d.MotherName},
				{"14", "Vợ/chồng / spouse", d.SpouseName},
				{"15", "CMND cũ / old ID", d.OldIDNumber},
			}
			fmt.Fprintln(stdout, "DG13")
			for _, r := range rows {
				fmt.Fprintf(stdout, "  %2s %-30s %s\n", r.n, r.label, r.v)
			}
		}
	}
	if b, ok := files[lds.FIDDG15]; ok {
		pub, err := lds.DecodeDG15(b)
		switch k := pub.(type) {
		case *rsa.PublicKey:
			fmt.Fprintf(stdout, "DG15     Active Authentication key RSA-%d\n", k.N.BitLen())
		case *ecdsa.PublicKey:
			fmt.Fprintf(stdout, "DG15     Active Authentication key ECDSA %s\n", k.Curve.Params().Name)
		default:
			if err == nil {
				err = fmt.Errorf("key type %T", pub)
			}
			fail("DG15: %v", err)
		}
	}
	b, ok := files[lds.FIDSOD]
	if !ok {
		fail("EF.SOD (011D.bin) missing")
	} else {
		sum := sha256.Sum256(b)
		fmt.Fprintf(stdout, "EF.SOD   sha256 %X\n", sum)
		s, err := lds.DecodeSOD(b)
		if err != nil {
			fail("EF.SOD: %v", err)
		} else {
			fmt.Fprintf(stdout, "  signer   %s (serial %X)\n", s.Signer.Subject, s.Signer.SerialNumber)
			fmt.Fprintf(stdout, "  signed   %s with %v\n", s.SigningTime.Format(time.RFC3339), s.SignatureAlgorithm)
			if err := s.VerifySignature(); err != nil {
				fail("signature: %v", err)
			} else {
				fmt.Fprintln(stdout, "  ok   signature")
			}
			for _, g := range lds.DataGroups {
				data, present := files[g.FID]
				_, listed := s.Hashes[g.Number]
				switch {
				case !present && !listed:
					continue
				case !present:
					fmt.Fprintf(stdout, "  --   %s hashed in EF.SOD, file not present\n", g.Name)
				default:
					if err := s.CheckHashes(map[int][]byte{g.Number: data}); err != nil {
						fail("%s: %v", g.Name, err)
					} else {
						fmt.Fprintf(stdout, "  ok   %s hash\n", g.Name)
					}
				}
			}
			if *csca != "" {
				cas, err := pki.LoadCSCAs(*csca)
				if err != nil {
					return err
				}
				state := "VNM"
				if dg1, ok := files[lds.FIDDG1]; ok {
					if m, err := lds.DecodeDG1(dg1); err == nil {
						state = m.IssuingState
					}
				}
				if err := s.VerifySigner(cas, time.Now(), state); err != nil {
					fail("Document Signer: %v", err)
				} else {
					fmt.Fprintln(stdout, "  ok   Document Signer issued by the CSCA, country matches the issuing state")
				}
			}
		}
	}
	if len(failures) > 0 {
		return errors.New(fmt.Sprintf("%d check(s) failed", len(failures)))
	}
	return nil
}
