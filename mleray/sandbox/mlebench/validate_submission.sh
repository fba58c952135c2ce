#!/bin/bash
# Post a submission file to the validation endpoint and print its JSON answer:
#   bash /home/validate_submission.sh path/to/submission.csv
# The endpoint (localhost:5000/validate) is mleray's label-free check, answered inside
# this container: it compares the file with the sample submission, never with answers.
SUBMISSION_FILE=$1
SERVER_URL="http://localhost:5000/validate"
if [ -z "$SUBMISSION_FILE" ]; then
    echo "Usage: $0 <submission_file>"
    exit 1
fi
if [ ! -f "$SUBMISSION_FILE" ]; then
    echo "File $SUBMISSION_FILE does not exist."
    exit 1
fi
if command -v curl > /dev/null 2>&1; then
    exec curl -s -X POST -F "file=@${SUBMISSION_FILE}" "$SERVER_URL"
fi
# no curl in this image: the same multipart POST with Python's standard library
exec python3 - "$SUBMISSION_FILE" "$SERVER_URL" <<'PYTHON'
import sys
import urllib.error
import urllib.request
import uuid

path, url = sys.argv[1], sys.argv[2]
boundary = uuid.uuid4().hex
with open(path, "rb") as handle:
    content = handle.read()
body = (
    f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="submission.csv"\r\n'
    f"Content-Type: text/csv\r\n\r\n"
).encode() + content + f"\r\n--{boundary}--\r\n".encode()
request = urllib.request.Request(
    url, data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
)
try:
    with urllib.request.urlopen(request, timeout=600) as response:
        sys.stdout.write(response.read().decode())
except urllib.error.HTTPError as error:
    sys.stdout.write(error.read().decode())
except OSError as error:
    sys.stdout.write(f"cannot reach {url}: {error}\n")
    sys.exit(7)
PYTHON
