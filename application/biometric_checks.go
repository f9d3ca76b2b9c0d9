package application

import (
	"bytes"
	"errors"
	"fmt"
	"image/jpeg"

	"github.com/cccd-station/station/biometrics"
)

// checkFace is the default face check at intake: the picture must be a JPEG
// that decodes, at least 240×320 pixels. Fitting it to the chip's size
// budget is the preparation step's work (biometrics.PrepareFace).
func checkFace(b []byte) error {
	if len(b) < 3 || b[0] != 0xFF || b[1] != 0xD8 || b[2] != 0xFF {
		return errors.New("must be a JPEG picture")
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return errors.New("JPEG header cannot be decoded")
	}
	if cfg.Width < biometrics.MinFaceWidth || cfg.Height < biometrics.MinFaceHeight {
		return fmt.Errorf("picture is %d×%d pixels, at least %d×%d required", cfg.Width, cfg.Height, biometrics.MinFaceWidth, biometrics.MinFaceHeight)
	}
	if cfg.Width*cfg.Height > biometrics.MaxFaceInputPixels {
		return fmt.Errorf("picture is %d×%d pixels, too large", cfg.Width, cfg.Height)
	}
	if _, err := jpeg.Decode(bytes.NewReader(b)); err != nil {
		return errors.New("JPEG picture cannot be decoded (truncated or corrupt)")
	}
	return nil
}

// checkFinger is the default finger record check: the record parses as the
// format it claims (ISO/IEC 19794-2 or 19794-4).
func checkFinger(format string, record []byte) error {
	_, err := biometrics.ParseFinger(format, record)
	return err
}
