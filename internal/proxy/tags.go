package proxy

import "bytes"

// maxTags bounds the tags of one entry; a body naming more ids is not
// stored, since purging it reliably would cost too much.
const maxTags = 1024

// extractTags appends to tags the Razorpay entity ids found as JSON string
// values in body: a lower-case prefix of 2 to 12 letters, an underscore and
// 14 base62 characters (qr_HMsgvioW64f0vh, cust_HKsR5se84c5LTO). They become
// the entry's surrogate keys, so a PATCH of a QR code purges every entry that
// mentions it. Words such as "single_use" do not match; a false match only
// costs an extra purge. It reports false if the body holds too many ids.
func extractTags(tags []string, body []byte) ([]string, bool) {
	for {
		i := bytes.IndexByte(body, '"')
		if i < 0 {
			return tags, true
		}
		body = body[i+1:]
		j := stringEnd(body)
		if j < 0 {
			return tags, true
		}
		if s := body[:j]; looksLikeID(s) && !containsTag(tags, s) {
			if len(tags) >= maxTags {
				return tags, false
			}
			tags = append(tags, string(s))
		}
		body = body[j+1:]
	}
}

// stringEnd returns the index of the quote closing a JSON string whose
// opening quote precedes b, skipping escaped characters (a \" inside a
// notes value must not end the string, or the scan would fall out of step
// and miss the ids after it), or -1.
func stringEnd(b []byte) int {
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

func looksLikeID(s []byte) bool {
	u := bytes.IndexByte(s, '_')
	if u < 2 || u > 12 || len(s)-u-1 != 14 {
		return false
	}
	for _, c := range s[:u] {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	for _, c := range s[u+1:] {
		if !isAlnum(c) {
			return false
		}
	}
	return true
}

func containsTag(tags []string, s []byte) bool {
	for _, t := range tags {
		if t == string(s) {
			return true
		}
	}
	return false
}
