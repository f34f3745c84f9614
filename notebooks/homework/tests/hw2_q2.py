OK_FORMAT = True

test = {   'name': 'hw2_q2',
    'points': [1],
    'suites': [{'cases': [{'code': '>>> hw2.check_shadow_pte(shadow_pte)\nok\n', 'hidden': False, 'locked': False}], 'scored': True, 'setup': '', 'teardown': '', 'type': 'doctest'}]}
