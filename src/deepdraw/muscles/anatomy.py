"""The 25 muscles of the dataset and the joints each one crosses."""

import numpy as np

MUSCLE_NAMES = (
    "CORB", "DELT1", "DELT2", "DELT3", "INFSP", "LAT1", "LAT2", "LAT3", "PECM1", "PECM2",
    "PECM3", "SUBSC", "SUPSP", "TMAJ", "TMIN",  # shoulder
    "ANC", "BIClong", "BICshort", "BRA", "BRD", "ECRL", "PT", "TRIlat", "TRIlong", "TRImed",  # elbow
)

# Joints (elv_angle, shoulder_elv, shoulder_rot, elbow_flexion) each musculotendon length
# depends on, measured by perturbing each coordinate in OpenSim (tests/test_muscles.py
# re-checks it). For the biarticular BIClong, BICshort and TRIlong the length is exactly a
# sum f(shoulder) + g(elbow): their paths pass points fixed on the humerus between the
# shoulder part and the elbow part (checked to 1e-8 mm, tests/test_muscles.py).
_SHOULDER, _ELBOW, _BOTH = (True, True, True, False), (False, False, False, True), (True,) * 4
MUSCLE_JOINTS = np.array(
    [_SHOULDER] * 15
    + [_ELBOW, _BOTH, _BOTH, _ELBOW, _ELBOW, _ELBOW, _ELBOW, _ELBOW, _BOTH, _ELBOW],
    dtype=bool,
)
CROSSES_SHOULDER = MUSCLE_JOINTS[:, 0]
CROSSES_ELBOW = MUSCLE_JOINTS[:, 3]
