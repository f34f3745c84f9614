OK_FORMAT = True

test = {'name': 'q2',
 'points': 3,
 'suites': [{'cases': [{'code': '>>> import hw1\n>>> hw1.check_sret(my_sret)\nTrue',
                        'hidden': False,
                        'locked': False}],
             'scored': True,
             'setup': '',
             'teardown': '',
             'type': 'doctest'}]}
