// Package biometrics owns the biometric data of the CCCD chip, from the application's pictures
// and finger records to the bytes of the DG2 and DG3 templates, and knows nothing about chips.
//
//   - Face pictures (face.go): PrepareFace checks a JPEG (ITU-T T.81) and brings it within the
//     DG2 size budget, re-encoding it at the highest quality that fits with the package's own
//     baseline encoder (jpegenc.go).
//   - Facial records (face_record.go): ISO/IEC 19794-5:2005, encode and decode.
//   - Finger records (finger.go): ISO/IEC 19794-2:2005 minutiae and ISO/IEC 19794-4:2005 images,
//     parsed and validated; ISO finger position codes and the application's finger names.
//   - CBEFF (cbeff.go, tlv.go): the biometric information templates of the LDS, ICAO Doc 9303-10
//     §4.7.2–4.7.3 with the ISO/IEC 19785-3 / 7816-11 header elements, encode and decode, on the
//     package's own BER-TLV reader.
//   - Synthetic biometrics for the demo (synthetic.go): cartoon faces and invented minutiae.
//
// Pictures and finger records are personal data. They never go into errors; the types that
// hold them (Face, FaceRecord, FingerRecord) implement slog.LogValuer and fmt.Stringer showing
// only sizes, dimensions and formats.
package biometrics
