package application

import (
	"errors"

	"github.com/cccd-station/station/biometrics"
)

// checkFace is the default face check at intake: the picture must be a JPEG
// of at least 240×320 and at most 16 megapixels that decodes
// (biometrics.CheckFace, whose decodes are bounded by the cores). Fitting it
// to the chip's size budget is the preparation step's work
// (biometrics.PrepareFace). The rule is told without image data.
func checkFace(b []byte) error {
	err := biometrics.CheckFace(b)
	var fe *biometrics.FaceError
	if !errors.As(err, &fe) {
		return err
	}
	switch fe.Rule {
	case biometrics.FaceRuleNotJPEG:
		return errors.New("must be a JPEG picture")
	case biometrics.FaceRuleUndecodable:
		return errors.New("JPEG picture cannot be decoded (truncated or corrupt)")
	}
	return errors.New(fe.Detail) // sizes only: "picture is 200×300, minimum 240×320"
}

// checkFinger is the default finger record check: the record parses as the
// format it claims (ISO/IEC 19794-2 or 19794-4).
func checkFinger(format string, record []byte) error {
	_, err := biometrics.ParseFinger(format, record)
	return err
}
